"""Many polite fetches at once: concurrency with per-host limits, conditional refresh, counters.

Every per-service source (stats pages, forges, usage APIs) fetches through `Fetcher`: it bounds how many
requests run in total and per host, remembers each response's validators (ETag / Last-Modified) and body
in a cache folder so that the next run asks conditionally and a `304 Not Modified` reuses the stored body,
and counts requests, bytes, 304s and errors per source for the run metadata and the benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from impact_pipeline.lib.http import FetchError, FetchResult, HttpClient, redact_url
from impact_pipeline.settings import env_int

DEFAULT_CONCURRENCY = 8  # requests in flight in total
DEFAULT_PER_HOST = 2  # and per host: public APIs (GitHub, Matomo, data.gouv.fr) expect a few at most


@dataclass(frozen=True)
class FetchRequest:
    """One request to make; `source` names the adapter (for counters), `key` is the caller's handle."""

    url: str
    source: str
    key: Any = None
    method: str = "GET"
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    conditional: bool = True  # send stored validators and accept 304
    # Only for paths built from a configured source location (offline mirrors), never registry URLs.
    allow_local_path: bool = False


@dataclass(frozen=True)
class FetchOutcome:
    request: FetchRequest
    result: FetchResult | None  # on a 304, carries the cached body with not_modified=True
    error: FetchError | None
    skipped: bool = False  # not sent: `should_skip` gave a reason (in `error.reason`)

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass
class SourceStats:
    requests: int = 0
    not_modified: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "not_modified": self.not_modified,
            "errors": self.errors,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class FetchStats:
    """Thread-safe counters per source."""

    by_source: dict[str, SourceStats] = field(default_factory=lambda: defaultdict(SourceStats))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, source: str, *, elapsed: float, result: FetchResult | None, error: FetchError | None) -> None:
        with self._lock:
            s = self.by_source[source]
            s.requests += 1
            s.seconds += elapsed
            if error is not None:
                s.errors += 1
            elif result is not None:
                if result.not_modified:
                    s.not_modified += 1
                else:
                    s.bytes += len(result.content)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: s.as_dict() for name, s in sorted(self.by_source.items())}


class ResponseCache:
    """Validators and bodies of earlier successful responses, one pair of files per request.

    Keyed by a hash of method, URL and form body, so secrets in a body never appear in file names;
    the stored metadata keeps only the redacted URL.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @staticmethod
    def key(request: FetchRequest) -> str:
        body = json.dumps(sorted((request.data or {}).items()))
        return hashlib.sha256(f"{request.method}\n{request.url}\n{body}".encode()).hexdigest()[:40]

    def get(self, request: FetchRequest) -> tuple[dict[str, Any], bytes] | None:
        key = self.key(request)
        try:
            meta = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            body = (self.folder / f"{key}.body").read_bytes()
        except (OSError, ValueError):
            return None
        if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
            return None  # a torn write: ask unconditionally
        return meta, body

    def put(self, request: FetchRequest, result: FetchResult) -> None:
        if not (result.etag or result.last_modified):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.key(request)
        meta = {
            "url": redact_url(request.url),
            "final_url": result.final_url,
            "status": result.status,
            "etag": result.etag,
            "last_modified": result.last_modified,
            "sha256": result.sha256,
            "content_type": result.headers.get("content-type"),
            "fetched_at": result.fetched_at,
        }
        for suffix, payload in ((".body", result.content), (".json", json.dumps(meta).encode())):
            tmp = self.folder / f".{key}{suffix}.{threading.get_ident()}.tmp"
            tmp.write_bytes(payload)
            os.replace(tmp, self.folder / f"{key}{suffix}")


class Fetcher:
    """Runs FetchRequests concurrently through one HttpClient, politely and conditionally."""

    def __init__(
        self,
        client: HttpClient,
        *,
        cache: ResponseCache | None = None,
        concurrency: int | None = None,
        per_host: int | None = None,
        stats: FetchStats | None = None,
        should_skip: Callable[[FetchRequest], str | None] | None = None,
        on_outcome: Callable[[FetchOutcome], None] | None = None,
    ):
        self.client = client
        # Asked right before each request is sent (e.g. "the API's rate limit is exhausted"):
        # a reason skips the request, which becomes a failed outcome with `skipped=True`.
        self.should_skip = should_skip
        # Called with every outcome as soon as it is known (e.g. to notice a rate limit mid-run).
        self.on_outcome = on_outcome
        self.cache = cache
        self.concurrency = concurrency or env_int("IMPACT_FETCH_CONCURRENCY", DEFAULT_CONCURRENCY)
        self.per_host = per_host or env_int("IMPACT_FETCH_PER_HOST", DEFAULT_PER_HOST)
        self.stats = stats or FetchStats()
        self._host_locks: dict[str, threading.BoundedSemaphore] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _host_key(url: str) -> str:
        """What the per-host limit counts: http:// and https:// on their default ports are one server."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            return parts.netloc.lower()
        return host if port in (None, {"http": 80, "https": 443}.get(parts.scheme.lower())) else f"{host}:{port}"

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = self._host_key(url)
        with self._guard:
            if host not in self._host_locks:
                self._host_locks[host] = threading.BoundedSemaphore(self.per_host)
            return self._host_locks[host]

    def fetch_one(self, request: FetchRequest, *, on_host_free: Callable[[], None] | None = None) -> FetchOutcome:
        """One request; `on_host_free` is called once its answer is read, before the cache and callbacks."""
        cached = self.cache.get(request) if (self.cache and request.conditional) else None
        etag = cached[0].get("etag") if cached else None
        last_modified = cached[0].get("last_modified") if cached else None
        started = time.monotonic()
        result: FetchResult | None = None
        error: FetchError | None = None
        with self._host_slot(request.url):
            skip_reason = self.should_skip(request) if self.should_skip else None
            if skip_reason:
                return FetchOutcome(request, None, FetchError(request.url, skip_reason), skipped=True)
            try:
                result = self.client.fetch(
                    request.url,
                    method=request.method,
                    data=request.data,
                    headers=request.headers,
                    etag=etag,
                    last_modified=last_modified,
                    allow_local_path=request.allow_local_path,
                )
            except FetchError as exc:
                error = exc
        if on_host_free:
            on_host_free()
        if result is not None and result.not_modified and cached:
            meta, body = cached
            result = replace(result, content=body, sha256=meta["sha256"], final_url=meta.get("final_url") or result.final_url)
        elif result is not None and self.cache and request.conditional:
            self.cache.put(request, result)
        self.stats.record(request.source, elapsed=time.monotonic() - started, result=result, error=error)
        outcome = FetchOutcome(request, result, error)
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome

    def fetch_all(self, requests: Iterable[FetchRequest]) -> list[FetchOutcome]:
        """Outcomes in the order of `requests`; a failure is an outcome, never an exception."""
        items: Sequence[FetchRequest] = list(requests)
        if not items:
            return []
        # Each free worker takes the next request of the host with the most requests left among those
        # below their per-host limit: the busiest host (api.github.com, github.com) keeps its slots busy
        # from the start while the other workers drain the small hosts, instead of idling at the end.
        queues: dict[str, deque[int]] = defaultdict(deque)
        for index, request in enumerate(items):
            queues[self._host_key(request.url)].append(index)
        in_flight: Counter[str] = Counter()
        ready = threading.Condition()
        outcomes: list[FetchOutcome | None] = [None] * len(items)

        def next_request() -> tuple[str, int] | None:
            with ready:
                while True:
                    open_hosts = [h for h, q in queues.items() if q and in_flight[h] < self.per_host]
                    if open_hosts:
                        host = max(open_hosts, key=lambda h: len(queues[h]))
                        in_flight[host] += 1
                        return host, queues[host].popleft()
                    if not any(queues.values()):
                        return None
                    ready.wait()

        def work() -> None:
            while (picked := next_request()) is not None:
                host, index = picked
                freed = False

                def free() -> None:  # as soon as the answer is read: the cache write overlaps the next request
                    nonlocal freed
                    if not freed:
                        freed = True
                        with ready:
                            in_flight[host] -= 1
                            ready.notify_all()

                try:
                    outcomes[index] = self.fetch_one(items[index], on_host_free=free)
                finally:
                    free()

        workers = min(self.concurrency, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()  # a bug in a callback surfaces here, as with pool.map
        return [o for o in outcomes if o is not None]
