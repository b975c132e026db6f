"""The one HTTP layer every source uses.

URLs come from a public, crowd-edited registry (architecture.md §4), so every fetch is treated as
untrusted: only http(s), parsed once with the client's own parser (`lib/urls.parse_http_url`); no
private/loopback/link-local targets, checked on the name before connecting and on the peer address of every
opened connection (so DNS rebinding cannot slip through), on every redirect hop; one total deadline over
connect, headers and body; bounded size; credentials never follow a redirect to another origin; and
configured secrets redacted from every answer and every error.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urljoin, urlsplit
from urllib.request import url2pathname

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as urllib3_exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from impact_pipeline.lib.urls import IPAddress, is_forbidden_address, parse_http_url

log = logging.getLogger(__name__)

# Query parameters whose values are credentials (Matomo's token_auth, GitLab's private_token, ...).
SECRET_QUERY_PARAMS = frozenset(
    {
        "token_auth",
        "token",
        "access_token",
        "private_token",
        "apikey",
        "api_key",
        "key",
        "password",
        "client_secret",
    }
)

ALLOWED_SCHEMES = ("http", "https")
ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST"})
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Request headers that may follow a redirect to another origin: all others (Authorization, GitLab's
# PRIVATE-TOKEN, cookies, any source's own secret header) are dropped, so a new source cannot forget one.
CROSS_ORIGIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "user-agent", "if-none-match", "if-modified-since"}
)
# Request headers whose values are secrets, whatever the source: redacted wherever they come back.
_SECRET_HEADER_RE = re.compile(r"auth|token|secret|key|session|cookie|password", re.IGNORECASE)
# Environment variables whose values are secrets (GITHUB_TOKEN, GITLAB_TOKEN, IMPACT_MATOMO_TOKEN_<name>…).
_SECRET_ENV_RE = re.compile(r"TOKEN|SECRET|PASSWORD|API_?KEY", re.IGNORECASE)
# Shorter values (and Matomo's public `anonymous`) are not secrets, and replacing them would garble answers.
_MIN_SECRET_LENGTH = 8
_NOT_SECRETS = frozenset({"anonymous"})

# The most one read of a body returns (a read returns what has arrived). Large: each read gives up the GIL and waits
# to take it back while another thread is busy (the gates' GX import); figures in bench/README.md.
_CHUNK_SIZE = 1024 * 1024
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PARAM_RE = re.compile(r"(?<=[?&;#])([^=&#;\s]+)=([^&#;]*)")
# In free text (log lines, exception messages) a value also ends at whitespace or a quote.
_PARAM_IN_TEXT_RE = re.compile(r"(?<=[?&;#])([^=&#;\s'\"]+)=([^&#;\s'\"]*)")
_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


# --- redaction ----------------------------------------------------------------------


def _redact_params(text: str, pattern: re.Pattern[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        # Decode the name: PHP (Matomo) also accepts `token%5Fauth`.
        if value and unquote_plus(name).strip().lower() in SECRET_QUERY_PARAMS:
            return f"{name}=***"
        return match.group(0)

    return pattern.sub(replace, text)


def redact_url(url: str) -> str:
    """The URL with credentials (userinfo, secret query/fragment parameters) replaced by ***."""
    if not url:
        return url
    redacted = _USERINFO_RE.sub(r"\1***@", url)
    return redact_secrets(_redact_params(redacted, _PARAM_RE))


# Every secret value this process was configured with or sent; a server may echo one back (Matomo's
# "token_auth=<token> is invalid"), so answers are cleaned before anyone stores or logs them.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_forms: tuple[tuple[str, bytes], ...] = ()


def register_secret(value: object) -> None:
    """Redact `value` from every answer, error and log line from now on (tokens, passwords, keys)."""
    global _secret_forms
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < _MIN_SECRET_LENGTH or value.lower() in _NOT_SECRETS or value in _secrets:
        return
    with _secrets_lock:
        _secrets.add(value)
        forms = {form for secret in _secrets for form in (secret, quote(secret, safe=""))}
        # Longest first: a secret containing another is replaced whole.
        _secret_forms = tuple((f, f.encode()) for f in sorted(forms, key=len, reverse=True))


def register_secrets_from_env(environ: Any = None) -> None:
    """Register the values of the environment's secret variables (`*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*API_KEY*`)."""
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_ENV_RE.search(name):
            register_secret(value)


def _register_request_secrets(url: str, headers: dict[str, str], data: Any) -> None:
    """The secrets a request carries: secret headers (the credential after `Bearer`/`token`), userinfo, and
    secret query or body parameters."""
    for name, value in headers.items():
        if isinstance(value, str) and _SECRET_HEADER_RE.search(name):
            register_secret(value)
            register_secret(value.split(None, 1)[-1])  # "Bearer <token>"
    parts = urlsplit(url)
    register_secret(parts.password)
    pairs = parse_qsl(parts.query) + parse_qsl(parts.fragment)
    if isinstance(data, dict):
        pairs += [(str(k), v) for k, v in data.items()]
    elif isinstance(data, (str, bytes)):
        pairs += parse_qsl(data.decode("latin-1") if isinstance(data, bytes) else data)
    for name, value in pairs:
        if unquote_plus(name).strip().lower() in SECRET_QUERY_PARAMS:
            register_secret(value)


def redact_secrets(text: str) -> str:
    """`text` with every registered secret value replaced by ***."""
    for form, _ in _secret_forms:
        if form in text:
            text = text.replace(form, "***")
    return text


def _redact_secret_bytes(content: bytes) -> bytes:
    for _, form in _secret_forms:
        if form in content:
            content = content.replace(form, b"***")
    return content


def _redact_text(text: str) -> str:
    return redact_secrets(_redact_params(text, _PARAM_IN_TEXT_RE))


class _RedactSecretsFilter(logging.Filter):
    """urllib3 logs request paths with their query string at DEBUG; never let a token through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _install_log_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _RedactSecretsFilter) for existing in logger.filters):
            logger.addFilter(_RedactSecretsFilter())


_install_log_redaction()


# --- public types -------------------------------------------------------------------


class FetchError(Exception):
    """A fetch failed; `str(error)` is "<redacted url>: <reason>"."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, headers: Any = None) -> None:
        self.url = redact_url(url) if url else "<empty>"
        self.reason = redact_secrets(reason)
        # The HTTP status and headers of an error answer (None for network errors): sources need them
        # to tell a rate limit (403 + X-RateLimit-Remaining: 0) from a refusal.
        self.status = status
        self.headers = (
            CaseInsensitiveDict({k: redact_secrets(v) for k, v in headers.items()}) if headers is not None else None
        )
        # Both in args so the error survives pickling (process pools, Dagster).
        super().__init__(self.url, reason)

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"

    @property
    def timed_out(self) -> bool:
        """The fetch waited for an answer that never came (a timeout or the total deadline)."""
        return self.reason.startswith("timed out")


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # per socket read
    total_timeout: float = 120.0  # whole fetch: redirects, retries and body
    max_bytes: int = 50 * 1024 * 1024 // 2  # 25 MiB
    max_redirects: int = 5
    retries: int = 3
    backoff_factor: float = 0.5
    max_retry_after: float = 60.0
    allow_private_network: bool = False
    user_agent: str = "impact-pipeline/0.1 (+https://beta.gouv.fr)"

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout", "max_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"HttpPolicy.{name} must be positive")
        for name in ("max_redirects", "retries", "backoff_factor", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"HttpPolicy.{name} must not be negative")


def page_read_overrides(budget_seconds: float = 20.0) -> dict[str, Any]:
    """The policy of a read of a stats page (URL checks, discovery): a short budget and no retry in the client, which
    would retry a timeout too (a second wait); a silent page then costs one timeout per read, never two."""
    return {
        "total_timeout": budget_seconds,
        "read_timeout": min(10.0, budget_seconds),
        "connect_timeout": min(10.0, budget_seconds),
        "retries": 0,
    }


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested (redacted)
    final_url: str  # after redirects (redacted); the absolute path for local files
    status: int  # 200..299 or 304
    headers: CaseInsensitiveDict[str]  # case-insensitive lookups, as HTTP header names are
    content: bytes  # b"" for 304
    fetched_at: str  # UTC ISO 8601, seconds precision
    sha256: str
    elapsed: float
    not_modified: bool
    etag: str | None
    last_modified: str | None

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise FetchError(self.url, f"response is not valid JSON: {_short_json_error(exc, self.content)}") from None


def _short_json_error(exc: ValueError, content: bytes) -> str:
    if not content:
        return "empty body"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__


# --- URL checks ---------------------------------------------------------------------


def is_local_path(value: str) -> bool:
    """True for `file:` URLs and for values without a URL scheme (absolute or relative paths)."""
    value = value.strip()
    if not value:
        return False
    match = _SCHEME_RE.match(value)
    if match is None:
        return True
    scheme = match.group(1).lower()
    # "C:\data\x.json" looks like a one-letter scheme on Windows.
    return scheme == "file" or (len(scheme) == 1 and os.name == "nt")


def _resolve(url: str, host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]").split("%", 1)[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(url, f"could not resolve host '{host}'") from None
    # Strip IPv6 scope ids ("fe80::1%eth0").
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _refusal(address: object) -> str:
    return (
        f"refusing to connect to private/loopback/link-local address {address} "
        "(set IMPACT_ALLOW_PRIVATE_NETWORK=1 to allow)"
    )


def check_url_allowed(url: str, policy: HttpPolicy) -> None:
    """Raise FetchError unless `url` is http(s) to a host that resolves to public addresses only.

    The URL is read by the client's own parser (`parse_http_url`), so the host checked is the host connected
    to. This check refuses early, with a clear message; the address actually connected to is checked again on
    the open socket (`_CheckedConnection`), which also catches a DNS answer that changed in between.
    """
    if not url or not url.strip():
        raise FetchError("<empty>", "no URL configured")
    if is_local_path(url):
        raise FetchError(url, "scheme 'file' is not allowed (only http and https)")
    try:
        parsed = parse_http_url(url)
    except ValueError as exc:
        raise FetchError(url, _redact_text(str(exc))) from None
    if policy.allow_private_network:
        return
    port = parsed.port or (443 if parsed.scheme.lower() == "https" else 80)
    for address in _resolve(url, parsed.host, port):
        if is_forbidden_address(address):
            raise FetchError(url, _refusal(address))


# --- connections: peer address check and the total deadline ------------------------


class _PeerRefused(Exception):
    """The opened connection's peer is a forbidden address (not an OSError: urllib3 must not retry it)."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


class _Fetch:
    """One fetch's deadline, enforced on every connection it uses.

    A socket timeout bounds each read, not their sum: a server dripping one header byte a second keeps every
    read short. At the deadline a timer shuts the fetch's sockets down, which ends any read in progress.
    """

    def __init__(self, started: float, total_timeout: float, allow_private_network: bool, retry: bool = True) -> None:
        self.started = started
        self.retry = retry
        self.total_timeout = total_timeout
        self.deadline = started + total_timeout
        self.allow_private_network = allow_private_network
        self.expired = False
        self._connections: list[Any] = []
        self._sockets: list[socket.socket] = []
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Fetch:
        self._timer.start()
        _current_fetch.value = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current_fetch.value = None
        with self._lock:
            self._done = True
            self._connections.clear()
            self._sockets.clear()
        self._timer.cancel()

    def timeout_reason(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"timed out after {elapsed:.1f} s (total deadline of {self.total_timeout:g} s)"

    def watch(self, connection: Any = None, sock: socket.socket | None = None) -> None:
        with self._lock:
            if self._done:
                return
            if connection is not None:
                self._connections.append(connection)
            if sock is not None:
                self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._abort(connection, sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            connections, sockets = list(self._connections), list(self._sockets)
        for connection in connections:
            self._abort(connection, None)
        for sock in sockets:
            self._abort(None, sock)

    @staticmethod
    def _abort(connection: Any, sock: socket.socket | None) -> None:
        for target in (getattr(connection, "sock", None), sock):
            if target is None or target.fileno() < 0:  # a raw socket TLS took over is detached (-1)
                continue
            try:
                # socket.socket's own shutdown: SSLSocket.shutdown would also drop its TLS state under a reader.
                socket.socket.shutdown(target, socket.SHUT_RDWR)
            except OSError:
                pass


# The running fetch, per thread: connections, the pools and the shared Retry object read it.
_current_fetch = threading.local()


def _fetch_in_progress() -> _Fetch | None:
    return getattr(_current_fetch, "value", None)


class _CheckedConnectionMixin:
    """A connection that checks the address it actually connected to, and stays within the fetch's deadline."""

    def _new_conn(self) -> socket.socket:
        fetch = _fetch_in_progress()
        if fetch is not None:
            remaining = fetch.deadline - time.monotonic()
            if remaining <= 0:
                raise urllib3_exceptions.ConnectTimeoutError(self, "total deadline reached before connecting")
            if self.timeout is None or not isinstance(self.timeout, (int, float)) or self.timeout > remaining:
                self.timeout = remaining
        sock = super()._new_conn()  # type: ignore[misc]
        # Behind a proxy the peer is the proxy, which resolves the target itself: the name check applies.
        if (fetch is None or not fetch.allow_private_network) and getattr(self, "proxy", None) is None:
            try:
                peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
            except (OSError, ValueError):
                peer = None
            if peer is None or is_forbidden_address(peer):
                sock.close()
                raise _PeerRefused(str(peer))
        if fetch is not None:
            fetch.watch(sock=sock)
        return sock


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _WatchedPoolMixin:
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        fetch = _fetch_in_progress()
        if fetch is not None:
            fetch.watch(connection=connection)
        return connection


class _HTTPPool(_WatchedPoolMixin, HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _HTTPSPool(_WatchedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter, with the pools of checked and watched connections (proxied ones too)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


# --- retries ------------------------------------------------------------------------


class _Retry(Retry):
    """urllib3's Retry, with Retry-After capped, the fetch deadline respected, and retries
    logged without secrets."""

    # 413 with Retry-After means "too large" for us, not "come back later".
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, *args: Any, max_retry_after: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kwargs: Any) -> _Retry:
        # Retry.new() rebuilds from a fixed list of arguments: carry ours along.
        kwargs.setdefault("max_retry_after", self.max_retry_after)
        return super().new(**kwargs)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except urllib3_exceptions.InvalidHeader:
            return 0  # unparseable: fall back to the exponential backoff
        # A hostile or confused server must not park a worker for hours.
        return min(seconds, self.max_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _Retry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when exhausted
        cause = f"HTTP {response.status}" if response is not None else type(error).__name__
        wait = (retry.get_retry_after(response) if response is not None else None) or retry.get_backoff_time()
        # The running fetch's deadline: never wait (Retry-After, backoff, another slow attempt) past it.
        fetch = _fetch_in_progress()
        if fetch is not None and (not fetch.retry or fetch.expired or time.monotonic() + wait >= fetch.deadline):
            why = "total deadline reached" if fetch.retry else "no retry for this fetch"
            log.debug("not retrying %s %s after %s: %s", method, redact_url(url or ""), cause, why)
            # What urllib3 raises when retries are exhausted: the caller sees the last error/response.
            reason = error or urllib3_exceptions.ResponseError(cause)
            raise urllib3_exceptions.MaxRetryError(_pool, url or "", reason) from reason
        log.debug("retrying %s %s after %s in %.2f s", method, redact_url(url or ""), cause, wait)
        return retry


def _build_retry(policy: HttpPolicy) -> _Retry:
    return _Retry(
        total=policy.retries,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        other=0,  # TLS and other errors will not fix themselves
        redirect=False,  # redirects are followed (and checked) by HttpClient.fetch
        allowed_methods=ALLOWED_METHODS,  # POST too: Matomo queries are POST bodies
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.max_retry_after,
        respect_retry_after_header=True,
        raise_on_status=False,  # give us the last response so the error can say "after N retries"
        max_retry_after=policy.max_retry_after,
    )


# --- error descriptions -------------------------------------------------------------


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests wraps urllib3 wraps socket errors)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        related = [*current.args, getattr(current, "reason", None), getattr(current, "original_error", None)]
        related += [current.__cause__, current.__context__]
        pending.extend(item for item in related if isinstance(item, BaseException))


def _describe_request_error(exc: BaseException, host: str, policy: HttpPolicy, read_timeout: float) -> str:
    chain = list(_exception_chain(exc))

    def find(*kinds: type[BaseException]) -> BaseException | None:
        return next((item for item in chain if isinstance(item, kinds)), None)

    if find(urllib3_exceptions.NameResolutionError, socket.gaierror):
        return f"could not resolve host '{host}'"
    if find(ConnectionRefusedError):
        return "connection refused"
    connect_timeout = find(urllib3_exceptions.ConnectTimeoutError, requests.ConnectTimeout)
    if connect_timeout is not None and not isinstance(connect_timeout, urllib3_exceptions.NewConnectionError):
        return f"timed out after {policy.connect_timeout} s (connect)"
    if find(urllib3_exceptions.ReadTimeoutError, requests.ReadTimeout, TimeoutError):
        return f"timed out after {read_timeout} s (read)"
    certificate = find(ssl.SSLCertVerificationError)
    if isinstance(certificate, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({certificate.verify_message})"
    tls = find(ssl.SSLError, urllib3_exceptions.SSLError, requests.exceptions.SSLError)
    if tls is not None:
        return f"TLS error ({getattr(tls, 'reason', None) or type(tls).__name__})"
    if find(requests.exceptions.ProxyError, urllib3_exceptions.ProxyError):
        return "proxy error"
    if find(RemoteDisconnected):
        return "server closed the connection without a response"
    if find(ConnectionResetError):
        return "connection reset by the server"
    if find(requests.exceptions.InvalidURL, urllib3_exceptions.LocationParseError):
        return "invalid URL"
    os_error = find(OSError)
    if isinstance(os_error, OSError) and os_error.strerror:
        return f"could not connect ({os_error.strerror.lower()})"
    # Never str(exc): requests' messages contain the full URL, query string included.
    return f"request failed ({type(exc).__name__})"


def _status_reason(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = parse_url(url)  # the client's parser: the origin it will connect to
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the client ---------------------------------------------------------------------


class HttpClient:
    """Fetches untrusted URLs under an HttpPolicy; safe to share between threads."""

    def __init__(self, policy: HttpPolicy | None = None) -> None:
        # The resources give the policy of their HttpSettings (lib/http_settings.py, read from the environment once).
        self.policy = policy if policy is not None else HttpPolicy()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = self.policy.user_agent
        # Sized for a thread pool fetching many URLs on the same host.
        register_secrets_from_env()
        adapter = _Adapter(max_retries=_build_retry(self.policy), pool_connections=16, pool_maxsize=16)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        data: dict | None = None,
        headers: dict | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_local_path: bool = False,
        budget: float | None = None,
        retry: bool = True,
    ) -> FetchResult:
        """Fetch `url` (or read a local file when allowed); raise FetchError on any failure.

        A 304 is a success only for a conditional request (`etag` or `last_modified` given). `budget` shortens the
        policy's total deadline for this fetch; `retry=False` sends it once (a URL that timed out last run).
        """
        started = time.monotonic()
        fetched_at = _utc_now()
        url = (url or "").strip()
        if not url:
            raise FetchError("<empty>", "no URL configured")
        if allow_local_path and is_local_path(url):
            return self._read_local(url, started, fetched_at)
        method = method.upper()
        if method not in ALLOWED_METHODS:
            raise ValueError(f"unsupported HTTP method {method!r}")

        policy = self.policy
        request_headers: dict[str, str] = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        # Whatever secret this request carries is redacted from what comes back (a server may echo it).
        _register_request_secrets(url, request_headers, data)

        total = policy.total_timeout if budget is None else min(policy.total_timeout, budget)
        with _Fetch(started, total, policy.allow_private_network, retry) as deadline:
            current_url, current_method, current_data = url, method, data
            for hop in range(policy.max_redirects + 1):
                if hop:
                    try:
                        check_url_allowed(current_url, policy)
                    except FetchError as exc:
                        raise FetchError(url, f"redirect to {redact_url(current_url)} refused: {exc.reason}") from None
                else:
                    check_url_allowed(current_url, policy)
                where = f" (redirected to {redact_url(current_url)})" if hop else ""

                response = self._send(url, current_url, current_method, current_data, request_headers, deadline, where)
                status = response.status_code
                location = response.headers.get("Location")
                if status not in REDIRECT_STATUSES or not location:
                    return self._finish(
                        url, current_url, response, started, fetched_at, deadline, etag, last_modified, where
                    )

                response.close()
                next_url = self._redirect_target(url, current_url, location)
                # Browsers' rules: 303 (and historically 301/302 after POST) become a GET without body.
                if (status == 303 and current_method != "HEAD") or (status in (301, 302) and current_method == "POST"):
                    current_method, current_data = "GET", None
                if _origin(next_url) != _origin(current_url):
                    if current_data:
                        # A POST body may carry a token (Matomo's token_auth): never hand it to another host.
                        raise FetchError(
                            url, f"refusing to resend the request body to another origin {redact_url(next_url)}"
                        )
                    request_headers = {k: v for k, v in request_headers.items() if k.lower() in CROSS_ORIGIN_HEADERS}
                log.debug(
                    "following HTTP %d redirect from %s to %s", status, redact_url(current_url), redact_url(next_url)
                )
                current_url = next_url
            raise FetchError(url, f"too many redirects (more than {policy.max_redirects})")

    @staticmethod
    def _redirect_target(url: str, current_url: str, location: str) -> str:
        """The absolute URL a Location header points to; refused when URL parsers would read it differently."""
        location = location.strip()
        try:
            # The raw header is checked: urljoin would already have read a `\` its own way.
            parse_http_url(urljoin(current_url, location))
            if "\\" in location or any(ord(c) < 0x21 or ord(c) == 0x7F for c in location):
                raise ValueError("character not allowed in a URL (URL parsers read it differently)")
        except ValueError as exc:
            raise FetchError(url, f"redirect to {redact_url(location)} refused: {_redact_text(str(exc))}") from None
        return urljoin(current_url, location)

    def _send(
        self,
        url: str,
        current_url: str,
        method: str,
        data: dict | None,
        headers: dict[str, str],
        fetch: _Fetch,
        where: str,
    ) -> requests.Response:
        remaining = fetch.deadline - time.monotonic()
        if remaining <= 0 or fetch.expired:
            raise FetchError(url, fetch.timeout_reason() + where)
        # Never wait on one connect or read beyond the overall deadline.
        connect_timeout = round(min(self.policy.connect_timeout, remaining), 3)
        read_timeout = round(min(self.policy.read_timeout, remaining), 3)
        try:
            return self._session.request(
                method,
                current_url,
                data=data,
                headers=headers,
                timeout=(connect_timeout, read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except _PeerRefused as exc:
            raise FetchError(url, _refusal(exc.address) + where) from None
        except (requests.RequestException, urllib3_exceptions.HTTPError) as exc:
            if fetch.expired or time.monotonic() >= fetch.deadline:
                reason = fetch.timeout_reason()
            else:
                host = urlsplit(current_url).hostname or ""
                reason = _describe_request_error(exc, host, self.policy, read_timeout)
            log.debug("%s %s failed: %s (%s)", method, redact_url(current_url), reason, type(exc).__name__)
            # `from None`: the chained requests exceptions print the URL with its query string.
            raise FetchError(url, reason + where) from None

    def _finish(
        self,
        url: str,
        current_url: str,
        response: requests.Response,
        started: float,
        fetched_at: str,
        fetch: _Fetch,
        etag: str | None,
        last_modified: str | None,
        where: str,
    ) -> FetchResult:
        status = response.status_code
        not_modified = status == 304 and bool(etag or last_modified)
        if not (200 <= status < 300 or not_modified):
            retries = response.raw.retries
            retried = len(retries.history) if retries is not None else 0
            response.close()
            reason = _status_reason(status)
            if status in REDIRECT_STATUSES:
                reason += " without a Location header"
            if retried:
                reason += f" after {retried} {'retry' if retried == 1 else 'retries'}"
            raise FetchError(url, reason + where, status=status, headers=CaseInsensitiveDict(response.headers.items()))

        if not_modified or response.request.method == "HEAD":
            # No body: finish reading the (empty) answer so that the connection goes back to the pool. Closing
            # it unread drops the keep-alive connection: every 304 of a warm run would pay a new TCP and TLS
            # handshake. A chunked answer could drip: that one is closed, as before.
            if not getattr(response.raw, "chunked", True):
                response.raw.drain_conn()
            response.close()
            content = b""
        else:
            content = self._read_body(url, response, fetch, where)

        # A configured secret echoed by the server (an error quoting token_auth) never goes further.
        content = _redact_secret_bytes(content)
        response_headers = CaseInsensitiveDict({k: redact_secrets(v) for k, v in response.headers.items()})
        return FetchResult(
            url=redact_url(url),
            final_url=redact_url(current_url),
            status=status,
            headers=response_headers,
            content=content,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(content).hexdigest(),
            elapsed=time.monotonic() - started,
            not_modified=not_modified,
            etag=response_headers.get("ETag") or (etag if not_modified else None),
            last_modified=response_headers.get("Last-Modified") or (last_modified if not_modified else None),
        )

    def _read_body(self, url: str, response: requests.Response, fetch: _Fetch, where: str) -> bytes:
        max_bytes = self.policy.max_bytes
        too_large = FetchError(url, f"response larger than {max_bytes} bytes (size cap){where}")
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            response.close()
            raise too_large

        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # A server dripping bytes keeps every read within the read timeout: the deadline's timer
                # shuts the socket down, and this check turns what the read then sees into a timeout.
                if fetch.expired or time.monotonic() > fetch.deadline:
                    raise FetchError(url, fetch.timeout_reason() + where)
                # read1 returns as soon as some bytes arrive (read() would wait for a full chunk).
                chunk = response.raw.read1(_CHUNK_SIZE, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:  # also bounds decompressed size (gzip bombs)
                    raise too_large
                chunks.append(chunk)
            if fetch.expired:  # the end of the body was the shutdown, not the server's
                raise FetchError(url, fetch.timeout_reason() + where)
        except (urllib3_exceptions.ReadTimeoutError, TimeoutError):
            # The read timeout was shortened to the time left, so this may be the deadline.
            if fetch.expired or time.monotonic() >= fetch.deadline - 0.05:
                raise FetchError(url, fetch.timeout_reason() + where) from None
            raise FetchError(url, f"timed out after {self.policy.read_timeout} s (read){where}") from None
        except urllib3_exceptions.DecodeError:
            if fetch.expired:
                raise FetchError(url, fetch.timeout_reason() + where) from None
            raise FetchError(url, f"could not decode the response body (Content-Encoding){where}") from None
        except (urllib3_exceptions.HTTPError, OSError):
            if fetch.expired:
                raise FetchError(url, fetch.timeout_reason() + where) from None
            raise FetchError(url, f"connection broken while reading the response{where}") from None
        finally:
            response.close()
        return b"".join(chunks)

    def _read_local(self, url: str, started: float, fetched_at: str) -> FetchResult:
        """Offline mirrors: read a file path or file: URL under the same size cap."""
        if url.lower().startswith("file:"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise FetchError(url, f"file URL on another host '{parts.netloc}' is not supported")
            path = url2pathname(parts.path)
        else:
            path = url
        path = os.path.abspath(os.path.expanduser(path))
        max_bytes = self.policy.max_bytes
        try:
            with open(path, "rb") as file:
                content = file.read(max_bytes + 1)
        except FileNotFoundError:
            raise FetchError(url, "file not found") from None
        except IsADirectoryError:
            raise FetchError(url, "is a directory, not a file") from None
        except OSError as exc:
            raise FetchError(url, f"could not read file ({(exc.strerror or type(exc).__name__).lower()})") from None
        if len(content) > max_bytes:
            raise FetchError(url, f"response larger than {max_bytes} bytes (size cap)")
        return FetchResult(
            url=redact_url(url),
            final_url=path,
            status=200,
            headers=CaseInsensitiveDict({"Content-Length": str(len(content))}),
            content=content,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(content).hexdigest(),
            elapsed=time.monotonic() - started,
            not_modified=False,
            etag=None,
            last_modified=None,
        )
