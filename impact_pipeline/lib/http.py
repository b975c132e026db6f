"""The one HTTP layer every source uses.

URLs come from a public, crowd-edited registry (architecture.md §4), so every fetch is treated as
untrusted: only http(s), no private/loopback/link-local targets (checked again on every redirect
hop), bounded time and size, and errors that name the URL without leaking its secrets.
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
from datetime import datetime, timezone
from http import HTTPStatus
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit
from urllib.request import url2pathname

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

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
# Headers that must not follow a redirect to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

_CHUNK_SIZE = 64 * 1024
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
    return _redact_params(redacted, _PARAM_RE)


def _redact_text(text: str) -> str:
    return _redact_params(text, _PARAM_IN_TEXT_RE)


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
        self.reason = reason
        # The HTTP status and headers of an error answer (None for network errors): sources need them
        # to tell a rate limit (403 + X-RateLimit-Remaining: 0) from a refusal.
        self.status = status
        self.headers = headers
        # Both in args so the error survives pickling (process pools, Dagster).
        super().__init__(self.url, reason)

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


def _env_number(name: str, kind: type[int] | type[float]) -> int | float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a {kind.__name__}, got {raw!r}") from None


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

    @classmethod
    def from_env(cls, **overrides: Any) -> HttpPolicy:
        """The policy from IMPACT_* environment variables; keyword overrides win."""
        values: dict[str, Any] = {
            "allow_private_network": os.environ.get("IMPACT_ALLOW_PRIVATE_NETWORK", "").strip() == "1"
        }
        for variable, name, kind in (
            ("IMPACT_HTTP_TIMEOUT", "total_timeout", float),
            ("IMPACT_HTTP_MAX_BYTES", "max_bytes", int),
            ("IMPACT_HTTP_RETRIES", "retries", int),
        ):
            value = _env_number(variable, kind)
            if value is not None:
                values[name] = value
        values.update(overrides)
        return cls(**values)


class _Headers(dict[str, str]):
    """Response headers with case-insensitive lookups (HTTP header names are)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for key, value in dict(items).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested (redacted)
    final_url: str  # after redirects (redacted); the absolute path for local files
    status: int  # 200..299 or 304
    headers: dict[str, str]  # lower-cased names, case-insensitive lookups
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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_forbidden_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
            return _is_forbidden_address(address.ipv4_mapped)
        # 6to4 and Teredo addresses embed an IPv4 address that may be internal.
        embedded = [address.sixtofour] + list(address.teredo or ())
        if any(inner is not None and _is_forbidden_address(inner) for inner in embedded):
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        # Also catches shared space such as 100.64.0.0/10 (some clouds' metadata services).
        or not address.is_global
    )


def _resolve(url: str, host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(url, f"could not resolve host '{host}'") from None
    # Strip IPv6 scope ids ("fe80::1%eth0").
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url_allowed(url: str, policy: HttpPolicy) -> None:
    """Raise FetchError unless `url` is http(s) to a host that resolves to public addresses only.

    The resolution here is separate from the one `requests` does when connecting, so a DNS
    answer that changes in between (rebinding) is not caught; redirects are each re-checked.
    """
    if not url or not url.strip():
        raise FetchError("<empty>", "no URL configured")
    if is_local_path(url):
        raise FetchError(url, "scheme 'file' is not allowed (only http and https)")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(url, f"invalid URL ({_redact_text(str(exc))})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(url, f"scheme '{scheme}' is not allowed (only http and https)")
    host = parts.hostname
    if not host:
        raise FetchError(url, "URL has no host")
    if policy.allow_private_network:
        return
    for address in _resolve(url, host, port or (443 if scheme == "https" else 80)):
        if _is_forbidden_address(address):
            raise FetchError(
                url,
                f"refusing to connect to private/loopback/link-local address {address} "
                "(set IMPACT_ALLOW_PRIVATE_NETWORK=1 to allow)",
            )


# --- retries ------------------------------------------------------------------------


# The running fetch's deadline, per thread: the shared Retry object reads it to avoid waiting
# (Retry-After, backoff, another slow attempt) past the fetch's total_timeout.
_current_deadline = threading.local()


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
        deadline = getattr(_current_deadline, "value", None)
        if deadline is not None and time.monotonic() + wait >= deadline:
            log.debug("not retrying %s %s after %s: total deadline reached", method, redact_url(url or ""), cause)
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
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80)


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the client ---------------------------------------------------------------------


class HttpClient:
    """Fetches untrusted URLs under an HttpPolicy; safe to share between threads."""

    def __init__(self, policy: HttpPolicy | None = None) -> None:
        self.policy = policy if policy is not None else HttpPolicy.from_env()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = self.policy.user_agent
        # Sized for a thread pool fetching many URLs on the same host.
        adapter = HTTPAdapter(max_retries=_build_retry(self.policy), pool_connections=16, pool_maxsize=16)
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
    ) -> FetchResult:
        """Fetch `url` (or read a local file when allowed); raise FetchError on any failure.

        A 304 is a success only for a conditional request (`etag` or `last_modified` given).
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
        deadline = started + policy.total_timeout
        request_headers: dict[str, str] = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified

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
                return self._finish(url, current_url, response, started, fetched_at, deadline, etag, last_modified, where)

            response.close()
            next_url = urljoin(current_url, location.strip())
            # Browsers' rules: 303 (and historically 301/302 after POST) become a GET without body.
            if (status == 303 and current_method != "HEAD") or (status in (301, 302) and current_method == "POST"):
                current_method, current_data = "GET", None
            if _origin(next_url) != _origin(current_url):
                if current_data:
                    # A POST body may carry a token (Matomo's token_auth): never hand it to another host.
                    raise FetchError(url, f"refusing to resend the request body to another origin {redact_url(next_url)}")
                request_headers = {k: v for k, v in request_headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            log.debug("following HTTP %d redirect from %s to %s", status, redact_url(current_url), redact_url(next_url))
            current_url = next_url
        raise FetchError(url, f"too many redirects (more than {policy.max_redirects})")

    def _send(
        self,
        url: str,
        current_url: str,
        method: str,
        data: dict | None,
        headers: dict[str, str],
        deadline: float,
        where: str,
    ) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(url, f"timed out after {self.policy.total_timeout} s (total){where}")
        # Never wait on one connect or read beyond the overall deadline.
        connect_timeout = round(min(self.policy.connect_timeout, remaining), 3)
        read_timeout = round(min(self.policy.read_timeout, remaining), 3)
        _current_deadline.value = deadline
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
        except (requests.RequestException, urllib3_exceptions.HTTPError) as exc:
            host = urlsplit(current_url).hostname or ""
            reason = _describe_request_error(exc, host, self.policy, read_timeout)
            log.debug("%s %s failed: %s (%s)", method, redact_url(current_url), reason, type(exc).__name__)
            # `from None`: the chained requests exceptions print the URL with its query string.
            raise FetchError(url, reason + where) from None
        finally:
            _current_deadline.value = None

    def _finish(
        self,
        url: str,
        current_url: str,
        response: requests.Response,
        started: float,
        fetched_at: str,
        deadline: float,
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
            raise FetchError(url, reason + where, status=status, headers=_Headers(response.headers.items()))

        if not_modified or response.request.method == "HEAD":
            # No body: finish reading the (empty) answer so that the connection goes back to the pool. Closing
            # it unread drops the keep-alive connection: every 304 of a warm run would pay a new TCP and TLS
            # handshake. A chunked answer could drip: that one is closed, as before.
            if not getattr(response.raw, "chunked", True):
                response.raw.drain_conn()
            response.close()
            content = b""
        else:
            content = self._read_body(url, response, deadline, where)

        response_headers = _Headers(response.headers.items())
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

    def _read_body(self, url: str, response: requests.Response, deadline: float, where: str) -> bytes:
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
                # Checked per chunk: a server dripping bytes keeps every read within the read
                # timeout, so only the overall deadline stops it.
                if time.monotonic() > deadline:
                    raise FetchError(url, f"timed out after {self.policy.total_timeout} s (total){where}")
                # read1 returns as soon as some bytes arrive (read() would wait for a full chunk).
                chunk = response.raw.read1(_CHUNK_SIZE, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:  # also bounds decompressed size (gzip bombs)
                    raise too_large
                chunks.append(chunk)
        except (urllib3_exceptions.ReadTimeoutError, TimeoutError):
            # The read timeout was shortened to the time left, so this may be the deadline.
            if time.monotonic() >= deadline - 0.05:
                raise FetchError(url, f"timed out after {self.policy.total_timeout} s (total){where}") from None
            raise FetchError(url, f"timed out after {self.policy.read_timeout} s (read){where}") from None
        except urllib3_exceptions.DecodeError:
            raise FetchError(url, f"could not decode the response body (Content-Encoding){where}") from None
        except (urllib3_exceptions.HTTPError, OSError):
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
            headers=_Headers({"Content-Length": str(len(content))}),
            content=content,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(content).hexdigest(),
            elapsed=time.monotonic() - started,
            not_modified=False,
            etag=None,
            last_modified=None,
        )
