"""Many polite fetches at once: one scheduler with per-host limits, conditional refresh, no repeated waiting.

Every per-service source (stats pages, forges, usage APIs) fetches through `Fetcher`: it keeps each response's
validators (ETag / Last-Modified), headers and body in a cache folder, so that the next run asks conditionally and a
`304 Not Modified` replays the stored answer, and it counts requests, bytes, 304s and errors per source for the run
metadata and the benchmarks. Its requests go to a `FetchLimits`, the scheduler (`submit() -> Future`): one queue
per host for every fetch set sharing it, the busiest host served first, within the limits in total and per host.
Time lost to timeouts is bounded per host and run (`host_wait`), and a page that timed out last run is read again
with a short budget and no retry (`recheck_budget`), until it answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from requests.structures import CaseInsensitiveDict

from impact_pipeline.lib.http import FetchError, FetchResult, HttpClient, redact_url

DEFAULT_CONCURRENCY = 8  # requests in flight in total
DEFAULT_PER_HOST = 2  # and per host: public APIs (GitHub, Matomo, data.gouv.fr) expect a few at most
DEFAULT_HOST_WAIT = 120  # seconds a run may lose to timeouts on one host, all its requests together
RECHECK_BUDGET_SECONDS = 5.0  # a page that timed out last run: one short try, no retry
_MIN_REQUEST_BUDGET = 0.25  # below this share of a host's wait budget, a request is not worth sending
# Never stored: a session credential, and what describes the 200's body on the wire rather than the answer.
_UNSTORED_HEADERS = frozenset({"set-cookie", "content-length", "transfer-encoding", "connection", "keep-alive"})
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
    # The stored answer is reused without asking when it was stored under the same tag (a commit count under the
    # ETag of its repository's answer: nothing was pushed since).
    reuse_if: str | None = None


@dataclass(frozen=True)
class FetchOutcome:
    request: FetchRequest
    result: FetchResult | None  # on a 304, carries the cached body and headers with not_modified=True
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
    timed_out: int = 0
    not_sent: int = 0  # a host's wait budget was spent

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), seconds=round(self.seconds, 3))


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
                s.timed_out += error.timed_out
            elif result is not None:
                if result.not_modified:
                    s.not_modified += 1
                else:
                    s.bytes += len(result.content)

    def not_sent(self, source: str) -> None:
        with self._lock:
            self.by_source[source].not_sent += 1

    def as_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: s.as_dict() for name, s in sorted(self.by_source.items())}


class ResponseCache:
    """Validators, headers and bodies of earlier successful responses, one pair of files per request, and which
    requests timed out last time (in a folder beside it, shared by every cache of the work dir).

    Keyed by a hash of method, URL and form body, so secrets in a body never appear in file names;
    the stored metadata keeps only the redacted URL and headers.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        # Shared by the URL checks' and discovery's caches: both read the same stats pages.
        self.timeouts = self.folder.parent / "timed_out"

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
        if hashlib.sha256(body).hexdigest() != meta.get("sha256") or "headers" not in meta:
            return None  # a torn write, or stored without its headers (an older cache): ask unconditionally
        return meta, body

    def _write(self, key: str, suffix: str, payload: bytes) -> None:
        tmp = self.folder / f".{key}{suffix}.{threading.get_ident()}.tmp"
        tmp.write_bytes(payload)
        os.replace(tmp, self.folder / f"{key}{suffix}")

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
            "headers": {k: v for k, v in result.headers.items() if k.lower() not in _UNSTORED_HEADERS},
            "fetched_at": result.fetched_at,
            "reuse_if": request.reuse_if,
        }
        self._write(key, ".body", result.content)
        self._write(key, ".json", json.dumps(meta).encode())

    def retag(self, request: FetchRequest, meta: dict[str, Any]) -> None:
        """The stored answer still holds under the request's new `reuse_if` tag (a 304 under it)."""
        self._write(self.key(request), ".json", json.dumps({**meta, "reuse_if": request.reuse_if}).encode())

    def replay(self, result: FetchResult, stored: tuple[dict[str, Any], bytes]) -> FetchResult:
        """A 304 as the stored answer: its body and headers, updated by the 304's own (RFC 9111 §4.3.4)."""
        meta, body = stored
        headers = CaseInsensitiveDict(meta["headers"])
        headers.update({k: v for k, v in result.headers.items() if k.lower() not in _UNSTORED_HEADERS})
        final_url = meta.get("final_url") or result.final_url
        return replace(result, content=body, sha256=meta["sha256"], final_url=final_url, headers=headers)

    def timed_out_last(self, request: FetchRequest) -> bool:
        return (self.timeouts / self.key(request)).exists()

    def note_timeout(self, request: FetchRequest, timed_out: bool) -> None:
        path = self.timeouts / self.key(request)
        if timed_out:
            self.timeouts.mkdir(parents=True, exist_ok=True)
            path.write_text(redact_url(request.url), encoding="utf-8")
        else:
            path.unlink(missing_ok=True)


def host_key(url: str) -> str:
    """What the per-host limit counts: http:// and https:// on their default ports are one server."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return parts.netloc.lower()
    return host if port in (None, {"http": 80, "https": 443}.get(parts.scheme.lower())) else f"{host}:{port}"


@dataclass
class _HostWait:
    spent: float = 0.0  # seconds this run lost to this host's timeouts
    reserved: float = 0.0  # the budgets handed to its requests in flight
    not_sent: int = 0


class Slot:
    """A request's turn: `budget` is how long it may wait (None: the host's wait budget is spent, do not send);
    `done` frees the slot as soon as the answer is read, saying how long a timeout made it wait."""

    def __init__(self, limits: FetchLimits, host: str, budget: float | None):
        self.host, self.budget = host, budget
        self._limits, self._freed = limits, budget is None

    def done(self, waited: float = 0.0) -> None:
        if not self._freed:
            self._freed = True
            self._limits._release(self.host, self.budget or 0.0, waited)


class FetchLimits:
    """The fetch scheduler: requests in flight at most, in total and per host, for every Fetcher sharing it.

    Fetch sets running at the same time (repository activity and URL checks; usage sources and discovery) submit
    their requests to one instance, so the configured limits hold for all of them together, and a free slot goes to
    the host with the most requests waiting, whichever set they belong to: the busiest host (api.github.com,
    github.com) never idles below its limit. A host's requests share its wait budget (`host_wait` seconds per run):
    each gets an equal part of what is left, time lost to a timeout is spent, and once it is spent the host's
    remaining requests are not sent.
    """

    def __init__(self, concurrency: int | None = None, per_host: int | None = None, host_wait: float | None = None):
        self.concurrency = concurrency or DEFAULT_CONCURRENCY  # HttpSettings reads IMPACT_FETCH_* once
        self.per_host = per_host or DEFAULT_PER_HOST
        self.host_wait = host_wait or DEFAULT_HOST_WAIT
        if self.concurrency < 1 or self.per_host < 1 or self.host_wait <= 0:
            raise ValueError("fetch limits must be positive")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[tuple[Callable[[Slot], Any], Future]]] = {}
        self._in_flight: Counter[str] = Counter()
        self._total = 0
        self._waits: dict[str, _HostWait] = defaultdict(_HostWait)
        self._run: str | None = None
        # Twice the slots: a request's slot is freed before its answer is stored and handed on.
        self._workers = ThreadPoolExecutor(max_workers=2 * self.concurrency, thread_name_prefix="fetch")

    def begin_run(self, run_id: str) -> None:
        """Wait budgets are per run: a step of another run starts them afresh."""
        with self._lock:
            if run_id != self._run:
                self._run = run_id
                for host, wait in list(self._waits.items()):
                    wait.spent, wait.not_sent = 0.0, 0
                    if not wait.reserved:
                        del self._waits[host]

    def host_waits(self) -> dict[str, dict[str, Any]]:
        """Hosts that made this run wait in vain: seconds lost to timeouts, requests not sent once it was spent."""
        with self._lock:
            return {
                host: {"waited_s": round(w.spent, 1), "budget_s": self.host_wait, "not_sent": w.not_sent}
                for host, w in sorted(self._waits.items())
                if w.spent or w.not_sent
            }

    def submit(self, host: str, job: Callable[[Slot], T]) -> Future[T]:
        """Runs `job(slot)` once `host` may be sent one more request; the job calls `slot.done()` once answered."""
        future: Future[T] = Future()
        with self._lock:
            self._queues.setdefault(host, deque()).append((job, future))
            ready = self._ready()
        self._start(ready)
        return future

    def _ready(self) -> list[tuple[Callable[[Slot], Any], Future, Slot]]:
        """Jobs to start now (under the lock): the busiest open host's next request, while slots are free."""
        ready = []
        for host in [h for h in self._queues if not self._budget_left(h)]:
            refused = self._queues.pop(host)
            ready += [(job, future, Slot(self, host, None)) for job, future in refused]
            self._waits[host].not_sent += len(refused)
        while self._total < self.concurrency:
            host, budget, most = None, None, 0
            for candidate, queue in self._queues.items():
                if len(queue) > most and self._in_flight[candidate] < self.per_host:
                    share = self._share(candidate)
                    if share is not None:
                        host, budget, most = candidate, share, len(queue)
            if host is None:
                break
            job, future = self._queues[host].popleft()
            if not self._queues[host]:
                del self._queues[host]
            self._total += 1
            self._in_flight[host] += 1
            self._waits[host].reserved += budget
            ready.append((job, future, Slot(self, host, budget)))
        return ready

    def _budget_left(self, host: str) -> bool:
        """False once the host's wait budget is spent and none of its requests is in flight to give some back."""
        return self._in_flight[host] > 0 or self._share(host) is not None

    def _share(self, host: str) -> float | None:
        """The budget of the host's next request: an equal part of what is left among its free slots (all of it when
        that part is too short and none is in flight)."""
        wait = self._waits.get(host) or _HostWait()
        left = self.host_wait - wait.spent - wait.reserved
        share = left / (self.per_host - self._in_flight[host])
        if share < _MIN_REQUEST_BUDGET and not self._in_flight[host]:
            share = left
        return share if share >= _MIN_REQUEST_BUDGET else None

    def waited(self, host: str) -> float:
        """Seconds this run lost to the host's timeouts."""
        with self._lock:
            wait = self._waits.get(host)
            return wait.spent if wait else 0.0

    def _release(self, host: str, budget: float, waited: float) -> None:
        with self._lock:
            self._total -= 1
            self._in_flight[host] -= 1
            if not self._in_flight[host]:
                del self._in_flight[host]  # the process-wide limits see hundreds of hosts over a run
            wait = self._waits[host]
            wait.reserved -= budget
            wait.spent += min(waited, budget)
            if not (wait.spent or wait.reserved or wait.not_sent):
                del self._waits[host]
            ready = self._ready()
        self._start(ready)

    def _start(self, ready: list[tuple[Callable[[Slot], Any], Future, Slot]]) -> None:
        for job, future, slot in ready:
            self._workers.submit(self._run_job, job, future, slot)

    @staticmethod
    def _run_job(job: Callable[[Slot], Any], future: Future, slot: Slot) -> None:
        if not future.set_running_or_notify_cancel():
            slot.done()
            return
        try:
            future.set_result(job(slot))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)
        finally:
            slot.done()


_PROCESS_LIMITS: dict[tuple[int, int, float], FetchLimits] = {}
_PROCESS_LIMITS_GUARD = threading.Lock()


def process_limits(
    concurrency: int | None = None, per_host: int | None = None, host_wait: float | None = None
) -> FetchLimits:
    """The scheduler shared by every fetcher of this process built with these limits (one per configuration)."""
    key = (concurrency or DEFAULT_CONCURRENCY, per_host or DEFAULT_PER_HOST, host_wait or DEFAULT_HOST_WAIT)
    with _PROCESS_LIMITS_GUARD:
        if key not in _PROCESS_LIMITS:
            _PROCESS_LIMITS[key] = FetchLimits(*key)
        return _PROCESS_LIMITS[key]


def start_each(tasks: Mapping[str, Callable[[], T]]) -> dict[str, Future[T]]:
    """Each fetch set in a thread of its own (it mostly waits for its requests' futures), all at once; the sets share
    limits through their fetchers, not through this."""
    sets = ThreadPoolExecutor(max_workers=max(1, len(tasks)), thread_name_prefix="fetch-set")
    try:
        return {name: sets.submit(task) for name, task in tasks.items()}
    finally:
        sets.shutdown(wait=False)


def write_each(
    fetched: Mapping[str, Future[T]], writers: Mapping[str, Callable[[T], Iterable[Any]]], log: Any
) -> Iterator[Any]:
    """Each fetch set's writer on its value as soon as that set is done, in order, yielding what the writers yield (an
    asset step's results). A set or writer that fails is logged (`log.error`) and the others still write; the first
    failure is raised once every set is done and written, so the step fails without losing the rows that were
    fetched."""
    failures = []
    for name, future in fetched.items():
        try:
            value = future.result()
            yield from writers[name](value)
        except Exception as exc:  # noqa: BLE001 - kept and raised once the others are written
            failures.append(exc)
            log.error(f"{name} failed ({type(exc).__name__}: {exc}); the others' results are kept")
    if failures:
        raise failures[0]


def wait_report(limits: FetchLimits, step_log: Any) -> dict[str, dict[str, Any]]:
    """The run's time lost to timeouts per host so far, for a step's metadata, and said in the step's log."""
    waits = limits.host_waits()
    for host, wait in waits.items():
        spent = f"{host}: {wait['waited_s']:g} s lost to timeouts this run (wait budget {wait['budget_s']:g} s)"
        if wait["not_sent"]:
            step_log.warning(f"{spent}; its {wait['not_sent']} remaining requests were not sent")
        else:
            step_log.info(spent)
    return waits


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
        recheck_budget: float | None = None,
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
        # Seconds given, once and without retry, to a request that timed out last time (stats pages: a silent page
        # costs one short wait per run, until it answers); None keeps no memory of timeouts.
        self.recheck_budget = recheck_budget

    _host_key = staticmethod(host_key)

    def submit(self, request: FetchRequest) -> Future[FetchOutcome]:
        """The request's outcome, once the limits let it be sent; a failure is an outcome, never an exception."""
        cached = self.cache.get(request) if (self.cache and request.conditional and request.reuse_if) else None
        if cached and cached[0].get("reuse_if") == request.reuse_if:
            done: Future[FetchOutcome] = Future()
            done.set_result(FetchOutcome(request, self._stored(request, cached), None))
            return done
        return self.limits.submit(host_key(request.url), lambda slot: self._send(request, slot))

    def fetch_all(self, requests: Iterable[FetchRequest]) -> list[FetchOutcome]:
        """Outcomes in the order of `requests`; a failure is an outcome, never an exception."""
        return [future.result() for future in [self.submit(r) for r in requests]]

    @staticmethod
    def _stored(request: FetchRequest, cached: tuple[dict[str, Any], bytes]) -> FetchResult:
        """The stored answer as a 304 nobody was asked for (it holds under the request's `reuse_if`)."""
        meta, body = cached
        return FetchResult(
            url=redact_url(request.url),
            final_url=meta.get("final_url") or redact_url(request.url),
            status=304,
            headers=CaseInsensitiveDict(meta["headers"]),
            content=body,
            fetched_at=meta.get("fetched_at") or "",
            sha256=meta["sha256"],
            elapsed=0.0,
            not_modified=True,
            etag=meta.get("etag"),
            last_modified=meta.get("last_modified"),
        )

    def _send(self, request: FetchRequest, slot: Slot) -> FetchOutcome:
        """Sends a request in its slot; the slot is freed as soon as the answer is read, so the cache write and the
        callbacks overlap the next request to that host."""
        if slot.budget is None:
            self.stats.not_sent(request.source)
            reason = (
                f"not asked: {slot.host} already lost {self.limits.waited(slot.host):.1f} s to timeouts in this run, "
                f"its wait budget ({self.limits.host_wait:g} s, IMPACT_FETCH_HOST_WAIT) is spent"
            )
            return FetchOutcome(request, None, FetchError(request.url, reason))
        cached = self.cache.get(request) if (self.cache and request.conditional) else None
        skip_reason = self.should_skip(request) if self.should_skip else None
        if skip_reason:
            return FetchOutcome(request, None, FetchError(request.url, skip_reason), skipped=True)
        recheck = self.recheck_budget is not None and self.cache is not None and self.cache.timed_out_last(request)
        budget = min(slot.budget, self.recheck_budget) if recheck else slot.budget
        started = time.monotonic()
        result: FetchResult | None = None
        error: FetchError | None = None
        try:
            result = self.client.fetch(
                request.url,
                method=request.method,
                data=request.data,
                headers=request.headers,
                etag=cached[0].get("etag") if cached else None,
                last_modified=cached[0].get("last_modified") if cached else None,
                allow_local_path=request.allow_local_path,
                budget=budget,
                retry=not recheck,
            )
        except FetchError as exc:
            error = exc
        elapsed = time.monotonic() - started
        slot.done(waited=elapsed if error is not None and error.timed_out else 0.0)
        if self.recheck_budget is not None and self.cache is not None and (recheck or (error and error.timed_out)):
            self.cache.note_timeout(request, timed_out=error is not None and error.timed_out)
        if result is not None and result.not_modified and cached:
            result = self.cache.replay(result, cached)
            if request.reuse_if and cached[0].get("reuse_if") != request.reuse_if:
                self.cache.retag(request, cached[0])
        elif result is not None and self.cache and request.conditional:
            self.cache.put(request, result)
        self.stats.record(request.source, elapsed=elapsed, result=result, error=error)
        outcome = FetchOutcome(request, result, error)
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome
