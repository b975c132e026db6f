"""Many polite fetches at once: concurrency with per-host limits, conditional refresh, counters.

Every per-service source (stats pages, forges, usage APIs) fetches through `Fetcher`: it bounds how many
requests run in total and per host, remembers each response's validators (ETag / Last-Modified) and body
in a cache folder so that the next run asks conditionally and a `304 Not Modified` reuses the stored body,
and counts requests, bytes, 304s and errors per source for the run metadata and the benchmarks.
Fetchers that run at the same time share one `FetchLimits` (see `process_limits`), so that the limits hold
for all their requests together; `side_by_side` runs such fetch sets in threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from impact_pipeline.lib.http import FetchError, FetchResult, HttpClient, redact_url

DEFAULT_CONCURRENCY = 8  # requests in flight in total
DEFAULT_PER_HOST = 2  # and per host: public APIs (GitHub, Matomo, data.gouv.fr) expect a few at most
T = TypeVar("T")


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


def host_key(url: str) -> str:
    """What the per-host limit counts: http:// and https:// on their default ports are one server."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return parts.netloc.lower()
    return host if port in (None, {"http": 80, "https": 443}.get(parts.scheme.lower())) else f"{host}:{port}"


class _PendingSet:
    """The requests of one `fetch_all` call not sent yet, by host, and how many of its workers wait for one."""

    def __init__(self, queues: dict[str, deque[int]]):
        self.queues = queues  # only hosts with requests left
        self.waiting = 0


class FetchLimits:
    """Requests in flight at most, in total and per host, for every Fetcher that shares this object.

    Fetchers running at the same time (repository activity and URL checks, each in its thread) share one
    instance so that the configured limits hold for all their requests together. A free slot goes to the host
    with the most requests left across all of them (a worker defers to another fetch set's busier host when
    that set has a worker ready), so the busiest host (api.github.com, github.com) never idles below its limit.
    """

    def __init__(self, concurrency: int | None = None, per_host: int | None = None):
        self.concurrency = concurrency or DEFAULT_CONCURRENCY  # HttpSettings reads IMPACT_FETCH_* once
        self.per_host = per_host or DEFAULT_PER_HOST
        if self.concurrency < 1 or self.per_host < 1:
            raise ValueError("fetch limits must be at least 1")
        self._changed = threading.Condition()
        self._total = 0
        self._in_flight: Counter[str] = Counter()
        self._left: Counter[str] = Counter()  # requests not sent yet per host, over every registered set
        self._sets: list[_PendingSet] = []
        self._deferring = 0  # workers waiting because another set's busier host goes first

    def _open(self, host: str) -> bool:
        return self._total < self.concurrency and self._in_flight[host] < self.per_host

    def _take(self, host: str) -> None:
        self._total += 1
        self._in_flight[host] += 1
        if self._deferring:  # a worker that deferred to this host may go now
            self._changed.notify_all()

    def acquire(self, host: str) -> None:
        """Blocks until one more request to `host` may be sent (a request outside `fetch_all`)."""
        with self._changed:
            while not self._open(host):
                self._changed.wait()
            self._take(host)

    def release(self, host: str) -> None:
        with self._changed:
            self._total -= 1
            self._in_flight[host] -= 1
            if not self._in_flight[host]:
                del self._in_flight[host]  # the process-wide limits see hundreds of hosts over a run
            self._changed.notify_all()

    def register(self, hosts: Sequence[str]) -> _PendingSet:
        """A new set of requests (`hosts[i]` is request i's host), served by `next_request`."""
        queues: dict[str, deque[int]] = defaultdict(deque)
        for index, host in enumerate(hosts):
            queues[host].append(index)
        pending = _PendingSet(dict(queues))
        with self._changed:
            self._sets.append(pending)
            self._left.update(hosts)
        return pending

    def unregister(self, pending: _PendingSet) -> None:
        with self._changed:
            self._sets.remove(pending)
            for host, queue in pending.queues.items():  # left unsent (a worker failed)
                self._left[host] -= len(queue)
                if self._left[host] <= 0:
                    del self._left[host]
            pending.queues.clear()
            self._changed.notify_all()

    def _pick(self, pending: _PendingSet) -> tuple[str | None, bool]:
        """(host to send to, or None; whether None is deferring to another set's busier host)."""
        if self._total >= self.concurrency:
            return None, False
        mine = [h for h in pending.queues if self._in_flight[h] < self.per_host]
        if not mine:
            return None, False
        best = max(mine, key=self._left.__getitem__)
        most = self._left[best]
        for other in self._sets:
            if other is pending or not other.waiting:
                continue
            if any(self._left[h] > most and self._in_flight[h] < self.per_host for h in other.queues):
                return None, True  # that set's waiting worker takes the slot for its busier host
        return best, False

    def next_request(self, pending: _PendingSet) -> tuple[str, int] | None:
        """Blocks until a request of `pending` may be sent and takes its slot; None once none is left."""
        with self._changed:
            pending.waiting += 1
            try:
                while pending.queues:
                    host, deferring = self._pick(pending)
                    if host is None:
                        self._deferring += deferring
                        try:
                            self._changed.wait()
                        finally:
                            self._deferring -= deferring
                        continue
                    queue = pending.queues[host]
                    index = queue.popleft()
                    if not queue:
                        del pending.queues[host]
                    self._left[host] -= 1
                    if not self._left[host]:
                        del self._left[host]
                    self._take(host)
                    return host, index
                return None
            finally:
                pending.waiting -= 1


_PROCESS_LIMITS: dict[tuple[int, int], FetchLimits] = {}
_PROCESS_LIMITS_GUARD = threading.Lock()


def process_limits(concurrency: int | None = None, per_host: int | None = None) -> FetchLimits:
    """The limits shared by every fetcher of this process built with them (one instance per configuration)."""
    limits = FetchLimits(concurrency, per_host)
    with _PROCESS_LIMITS_GUARD:
        return _PROCESS_LIMITS.setdefault((limits.concurrency, limits.per_host), limits)


@dataclass(frozen=True)
class SideBySide(Generic[T]):
    """What one task of `side_by_side` gave: its value, or the exception it raised."""

    value: T | None = None
    error: Exception | None = None


def side_by_side(tasks: Mapping[str, Callable[[], T]]) -> dict[str, SideBySide[T]]:
    """Runs each task in its own thread and waits for all; one task failing never loses another's result.

    Meant for fetch sets whose Fetchers share one `FetchLimits`: their requests overlap within the limits.
    """
    if len(tasks) <= 1:
        out: dict[str, SideBySide[T]] = {}
        for name, task in tasks.items():
            try:
                out[name] = SideBySide(task())
            except Exception as exc:  # noqa: BLE001 - handed to the caller, as with several tasks
                out[name] = SideBySide(error=exc)
        return out
    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="fetch-set") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
    results: dict[str, SideBySide[T]] = {}
    for name, future in futures.items():
        error = future.exception()
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: not a task's failure
        results[name] = SideBySide(error=error) if error is not None else SideBySide(future.result())
    return results


def side_by_side_then_write(
    tasks: Mapping[str, Callable[[], T]], writers: Mapping[str, Callable[[T], Iterable[Any]]], log: Any
) -> Iterator[Any]:
    """Runs `tasks` side by side, then each one's writer on its value, in the tasks' order, yielding what the writers
    yield (an asset step's results). A task or writer that fails is logged (`log.error`) and the others still write;
    the first failure is raised at the end, so the step fails without losing the rows that were fetched."""
    failures = []
    for name, outcome in side_by_side(tasks).items():
        try:
            if outcome.error is not None:
                raise outcome.error
            yield from writers[name](outcome.value)
        except Exception as exc:  # noqa: BLE001 - kept and raised once the others are written
            failures.append(exc)
            log.error(f"{name} failed ({type(exc).__name__}: {exc}); the others' results are kept")
    if failures:
        raise failures[0]


class Fetcher:
    """Runs FetchRequests concurrently through one HttpClient, politely and conditionally.

    Its limits are its own unless `limits` is given: fetchers sharing one `FetchLimits` count together.
    """

    def __init__(
        self,
        client: HttpClient,
        *,
        cache: ResponseCache | None = None,
        concurrency: int | None = None,
        per_host: int | None = None,
        limits: FetchLimits | None = None,
        stats: FetchStats | None = None,
        should_skip: Callable[[FetchRequest], str | None] | None = None,
        on_outcome: Callable[[FetchOutcome], None] | None = None,
    ):
        if limits is not None and (concurrency or per_host):
            raise ValueError("give either shared limits or concurrency/per_host, not both")
        self.client = client
        # Asked right before each request is sent (e.g. "the API's rate limit is exhausted"):
        # a reason skips the request, which becomes a failed outcome with `skipped=True`.
        self.should_skip = should_skip
        # Called with every outcome as soon as it is known (e.g. to notice a rate limit mid-run).
        self.on_outcome = on_outcome
        self.cache = cache
        self.limits = limits or FetchLimits(concurrency, per_host)
        self.stats = stats or FetchStats()

    @property
    def concurrency(self) -> int:
        return self.limits.concurrency

    @property
    def per_host(self) -> int:
        return self.limits.per_host

    _host_key = staticmethod(host_key)

    def fetch_one(self, request: FetchRequest) -> FetchOutcome:
        """One request, once the limits allow it."""
        host = host_key(request.url)
        self.limits.acquire(host)
        return self._send(request, host)

    def _send(self, request: FetchRequest, host: str) -> FetchOutcome:
        """Sends a request whose slot is taken; the slot is freed as soon as the answer is read, so the cache
        write and the callbacks overlap the next request to that host."""
        freed = False

        def free() -> None:
            nonlocal freed
            if not freed:
                freed = True
                self.limits.release(host)

        try:
            cached = self.cache.get(request) if (self.cache and request.conditional) else None
            etag = cached[0].get("etag") if cached else None
            last_modified = cached[0].get("last_modified") if cached else None
            started = time.monotonic()
            result: FetchResult | None = None
            error: FetchError | None = None
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
            free()
            if result is not None and result.not_modified and cached:
                meta, body = cached
                result = replace(
                    result, content=body, sha256=meta["sha256"], final_url=meta.get("final_url") or result.final_url
                )
            elif result is not None and self.cache and request.conditional:
                self.cache.put(request, result)
            self.stats.record(request.source, elapsed=time.monotonic() - started, result=result, error=error)
            outcome = FetchOutcome(request, result, error)
            if self.on_outcome:
                self.on_outcome(outcome)
            return outcome
        finally:
            free()

    def fetch_all(self, requests: Iterable[FetchRequest]) -> list[FetchOutcome]:
        """Outcomes in the order of `requests`; a failure is an outcome, never an exception."""
        items: Sequence[FetchRequest] = list(requests)
        if not items:
            return []
        # Each free worker takes the next request of the host with the most requests left among those
        # below their per-host limit (see FetchLimits): the busiest host (api.github.com, github.com) keeps
        # its slots busy from the start while the other workers drain the small hosts, instead of idling at the end.
        pending = self.limits.register([host_key(r.url) for r in items])
        outcomes: list[FetchOutcome | None] = [None] * len(items)

        def work() -> None:
            while (picked := self.limits.next_request(pending)) is not None:
                host, index = picked
                outcomes[index] = self._send(items[index], host)

        workers = min(self.limits.concurrency, len(items))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
                for future in [pool.submit(work) for _ in range(workers)]:
                    future.result()  # a bug in a callback surfaces here, as with pool.map
        finally:
            self.limits.unregister(pending)
        return [o for o in outcomes if o is not None]
