"""A real HTTP server on 127.0.0.1 for tests (stdlib only).

Tests exercise the real client code path with real sockets instead of mocking
`requests` (architecture.md §4). Routes are matched on the path alone; the query
string is recorded but ignored for matching.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict


@dataclass
class Route:
    status: int = 200
    # dict/list bodies are JSON-encoded and served as application/json.
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (interrupted by stop()).
    delay: float = 0.0
    # If set, the body is sent one byte at a time with this pause between bytes.
    drip: float | None = None
    # Dynamic answer: called with the recorded request; its Route's static fields are served.
    handler: Callable[[RecordedRequest], Route] | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    # Case-insensitive: `headers["user-agent"]` and `headers["User-Agent"]` both work.
    headers: CaseInsensitiveDict[str]
    body: bytes


_NO_BODY_STATUSES = {HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED}


def _encode_body(body: bytes | str | dict | list) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), "application/json"


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the client's connection pooling (keep-alive) is exercised too.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        recorded = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
        )
        owner._record(recorded)

        route = owner._next_route(split.path)
        if route is None:
            route = Route(status=404, body=b"not found")
        elif route.handler is not None:
            try:
                route = route.handler(recorded)
            except Exception as exc:  # surface handler bugs as a 500 the test can see
                route = Route(status=500, body=f"route handler failed: {exc!r}")

        if route.delay and owner._stopping.wait(route.delay):
            self.close_connection = True  # stopping: drop the request unanswered
            return
        self._answer(route)

    def _answer(self, route: Route) -> None:
        payload, default_type = _encode_body(route.body)
        has_body = route.status not in _NO_BODY_STATUSES and route.status >= 200
        headers = CaseInsensitiveDict()
        if has_body:
            headers["Content-Type"] = default_type
            headers["Content-Length"] = str(len(payload))
        for name, value in route.headers.items():  # explicit headers win (e.g. a lying Content-Length)
            headers[name] = value

        self.send_response(route.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD" or not has_body:
            return

        try:
            if route.drip is None:
                self.wfile.write(payload)
                return
            for index in range(len(payload)):
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
                if self.server.owner._stopping.wait(route.drip):
                    self.close_connection = True
                    return
        except OSError:
            # The client gave up (size cap, deadline): expected in these tests.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    # Daemon threads: a handler still dripping bytes never blocks stop() or interpreter exit.
    daemon_threads = True
    owner: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer is normal here


class LocalServer:
    """Threaded HTTP/1.1 server on 127.0.0.1, random free port."""

    def __init__(self, routes: dict[str, Route | list[Route]] | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, list[Route]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for path, route in (routes or {}).items():
            self.add(path, route)

    def add(self, path: str, route: Route | list[Route]) -> None:
        """Serve `route` at `path`; a list is served in order and its last item repeats."""
        sequence = list(route) if isinstance(route, list) else [route]
        if not sequence:
            raise ValueError(f"empty route list for {path!r}")
        with self._lock:
            self._routes[path] = sequence
            self._served[path] = 0

    def url(self, path: str = "/") -> str:
        if self._server is None:
            raise RuntimeError("LocalServer is not started")
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def start(self) -> LocalServer:
        if self._server is not None:
            raise RuntimeError("LocalServer already started")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        # A short poll interval so stop() returns promptly.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="LocalServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay/drip
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        # Unblock handler threads waiting on idle keep-alive connections.
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- used by the handler threads -------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_route(self, path: str) -> Route | None:
        with self._lock:
            sequence = self._routes.get(path)
            if sequence is None:
                return None
            index = min(self._served[path], len(sequence) - 1)
            self._served[path] += 1
            return sequence[index]

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
