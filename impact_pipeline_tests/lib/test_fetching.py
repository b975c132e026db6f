"""Concurrent, polite and conditional fetching against real local servers."""

from __future__ import annotations

import threading
import time

import pytest

from impact_pipeline.lib.fetching import (
    Fetcher,
    FetchLimits,
    FetchRequest,
    ResponseCache,
    process_limits,
    start_each,
    write_each,
)
from impact_pipeline.lib.http import HttpClient, HttpPolicy
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.in_flight import InFlight


def _client() -> HttpClient:
    return HttpClient(HttpPolicy(allow_private_network=True, retries=0, total_timeout=10))


def test_per_host_limit_and_total_concurrency_are_respected():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(_request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return Route(body={"ok": True})

    with LocalServer({"/x": Route(handler=slow)}) as server:
        fetcher = Fetcher(_client(), concurrency=8, per_host=3)
        started = time.monotonic()
        outcomes = fetcher.fetch_all(FetchRequest(server.url(f"/x?i={i}"), "test", key=i) for i in range(12))
        elapsed = time.monotonic() - started
    assert [o.request.key for o in outcomes] == list(range(12))  # order kept
    assert all(o.ok for o in outcomes)
    assert state["max"] == 3  # never more than per_host on one host
    assert elapsed >= 0.4 - 0.02  # 12 requests / 3 at a time × 0.1 s
    assert fetcher.stats.as_dict()["test"]["requests"] == 12


def test_second_fetch_is_conditional_and_reuses_the_stored_body(tmp_path):
    def etagged(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, headers={"ETag": '"v1"'})
        return Route(body={"value": 42}, headers={"ETag": '"v1"'})

    with LocalServer({"/stats.json": Route(handler=etagged)}) as server:
        cache = ResponseCache(tmp_path / "cache")
        first = Fetcher(_client(), cache=cache).fetch_all([FetchRequest(server.url("/stats.json"), "stats")])
        second_fetcher = Fetcher(_client(), cache=cache)
        second = second_fetcher.fetch_all([FetchRequest(server.url("/stats.json"), "stats")])
        sent = [r.headers.get("If-None-Match") for r in server.requests]
    assert first[0].result.json() == {"value": 42} and not first[0].result.not_modified
    assert second[0].result.not_modified and second[0].result.json() == {"value": 42}
    assert sent == [None, '"v1"']
    assert second_fetcher.stats.as_dict()["stats"]["not_modified"] == 1


def test_a_failing_request_is_an_outcome_not_an_exception():
    with LocalServer({"/ok": Route(body=b"fine")}) as server:
        outcomes = Fetcher(_client()).fetch_all(
            [FetchRequest(server.url("/missing"), "s", key="a"), FetchRequest(server.url("/ok"), "s", key="b")]
        )
    assert outcomes[0].error is not None and "HTTP 404" in str(outcomes[0].error)
    assert outcomes[1].ok and outcomes[1].result.content == b"fine"


def test_the_busiest_host_keeps_its_slots_busy_while_small_hosts_are_drained():
    # One host with most requests (api.github.com, github.com in a real run) and several small ones: the
    # run should last about as long as the busiest host needs at its per-host limit, not longer.
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def busy(_request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return Route(body=b"ok")

    small = [LocalServer({"/p": Route(body=b"ok", delay=0.2)}) for _ in range(4)]
    with LocalServer({"/x": Route(handler=busy)}) as big:
        for server in small:
            server.start()
        try:
            requests = [
                FetchRequest(s.url(f"/p?i={i}"), "pages", key=("small", n, i))
                for n, s in enumerate(small)
                for i in range(3)
            ]
            requests += [FetchRequest(big.url(f"/x?i={i}"), "pages", key=("big", i)) for i in range(12)]
            client = _client()
            # The busiest host's requests alone, as this machine and server answer them (6 rounds at 2 per host).
            started = time.monotonic()
            Fetcher(client, concurrency=4, per_host=2).fetch_all(requests[12:])
            big_alone = time.monotonic() - started
            state["max"] = 0
            fetcher = Fetcher(client, concurrency=4, per_host=2)
            started = time.monotonic()
            outcomes = fetcher.fetch_all(requests)
            elapsed = time.monotonic() - started
        finally:
            for server in small:
                server.stop()
    assert [o.request.key for o in outcomes] == [r.key for r in requests] and all(o.ok for o in outcomes)
    assert state["max"] == 2
    # With the small hosts' 12 requests on the 2 other workers meanwhile, the whole takes as long as the big
    # host alone (6 rounds); taking the requests host by host in turn leaves the big host below its limit
    # until the small ones are done (8 rounds).
    assert 6 * 0.2 - 0.02 <= elapsed < big_alone * 7 / 6


def test_the_next_request_to_a_host_does_not_wait_for_the_previous_answer_to_be_stored(tmp_path):
    arrivals: list[float] = []

    def answer(_request):
        arrivals.append(time.monotonic())
        return Route(body=b"ok", headers={"ETag": '"e"'}, delay=0.1)

    with LocalServer({"/x": Route(handler=answer)}) as server:
        # A slow consumer of each outcome (storing, parsing...): the host's only slot is free meanwhile.
        fetcher = Fetcher(
            _client(),
            cache=ResponseCache(tmp_path / "c"),
            concurrency=2,
            per_host=1,
            on_outcome=lambda _outcome: time.sleep(0.4),
        )
        outcomes = fetcher.fetch_all(FetchRequest(server.url(f"/x?i={i}"), "s", key=i) for i in range(2))
    assert all(o.ok for o in outcomes) and len(arrivals) == 2
    assert arrivals[1] - arrivals[0] < 0.3  # one answer (0.1 s) apart, not answer + consumer (0.5 s)


def test_one_per_host_limit_covers_http_and_https_of_a_host():
    # The registry declares both http://github.com/... and https://github.com/...: one server, one limit.
    key = Fetcher._host_key
    assert key("http://GitHub.com/org/a") == key("https://github.com/org/b") == key("https://github.com:443/c")
    assert key("https://github.com/a") != key("https://api.github.com/a")
    assert key("http://127.0.0.1:8001/a") != key("http://127.0.0.1:8002/a")  # explicit ports: separate services


def test_fetch_sets_sharing_limits_overlap_on_two_hosts_within_the_limits():
    # Repository activity (api.github.com) and URL checks (github.com): each bounded by its own host's limit.
    flight = InFlight()
    with LocalServer({"/x": flight.route("api")}) as api, LocalServer({"/x": flight.route("pages")}) as pages:
        limits = FetchLimits(concurrency=8, per_host=2)
        forges, checks = Fetcher(_client(), limits=limits), Fetcher(_client(), limits=limits)
        results = start_each(
            {
                "forges": lambda: forges.fetch_all(
                    FetchRequest(api.url(f"/x?i={i}"), "github", key=i) for i in range(8)
                ),
                "checks": lambda: checks.fetch_all(
                    FetchRequest(pages.url(f"/x?i={i}"), "url_checks", key=i) for i in range(8)
                ),
            }
        )
        outcomes = {name: future.result() for name, future in results.items()}
    assert all(o.ok for r in outcomes.values() for o in r)
    assert flight.peak_host == {"api": 2, "pages": 2}  # each host at its limit, never above
    assert flight.together == {frozenset({"api", "pages"})}  # the two sets were in flight at the same time
    assert flight.peak_total == 4  # so more than one host's limit in flight, within the total
    # each fetcher still counts its own requests (the assets' `requests` metadata)
    assert (
        forges.stats.as_dict() == {"github": forges.stats.as_dict()["github"]}
        and forges.stats.as_dict()["github"]["requests"] == 8
    )
    assert checks.stats.as_dict()["url_checks"]["requests"] == 8


def test_shared_limits_hold_in_total_and_per_host_across_fetchers():
    flight = InFlight()
    servers = [LocalServer({"/x": flight.route(name)}) for name in ("a", "b", "c")]
    for server in servers:
        server.start()
    try:
        a, b, c = servers
        limits = FetchLimits(concurrency=3, per_host=2)
        first, second = Fetcher(_client(), limits=limits), Fetcher(_client(), limits=limits)
        # host b is asked by both (gitlab.com serves both the GitLab API and repository pages)
        results = start_each(
            {
                "first": lambda: first.fetch_all(
                    FetchRequest(s.url(f"/x?f=1&i={i}"), "one") for s in (a, b) for i in range(5)
                ),
                "second": lambda: second.fetch_all(
                    FetchRequest(s.url(f"/x?f=2&i={i}"), "two") for s in (b, c) for i in range(5)
                ),
            }
        )
        outcomes = [o for r in results.values() for o in r.result()]
    finally:
        for server in servers:
            server.stop()
    assert len(outcomes) == 20 and all(o.ok for o in outcomes)
    assert flight.peak_total == 3  # the total limit, reached and held over both fetchers together
    assert max(flight.peak_host.values()) == 2 and flight.peak_host["b"] == 2  # host b: 2 for both, not 2 each


def test_a_freed_slot_goes_to_the_busiest_host_of_all_fetch_sets():
    # One slot in total, held until every request is queued: one set with one request to each of 4 small hosts,
    # submitted first, another with 6 requests to a big host. The big host is served while it has more requests
    # waiting than any small one, whichever set submitted first.
    limits = FetchLimits(concurrency=1, per_host=1)
    gate, order = threading.Event(), []
    held = limits.submit("gate", lambda slot: gate.wait(10))
    small = [limits.submit(h, lambda slot, h=h: order.append(h)) for h in ("s1", "s2", "s3", "s4")]
    big = [limits.submit("big", lambda slot: order.append("big")) for _ in range(6)]
    gate.set()
    for future in [held, *small, *big]:
        future.result(timeout=10)
    assert order[:5] == ["big"] * 5 and sorted(order) == ["big"] * 6 + ["s1", "s2", "s3", "s4"]


def test_one_fetch_set_failing_never_loses_the_other_s_rows():
    def broken():
        raise ValueError("recorded answers are not JSON")

    class Log:
        errors: list[str] = []

        def error(self, message):
            self.errors.append(message)

    written = []
    fetched = start_each({"checks": broken, "activity": lambda: ["row"]})
    with pytest.raises(ValueError):
        for result in write_each(fetched, {"activity": lambda rows: rows, "checks": lambda rows: rows}, Log()):
            written.append(result)
    assert written == ["row"] and "checks failed (ValueError" in Log.errors[0]


def test_a_request_that_timed_out_last_time_is_sent_once_with_the_short_budget(tmp_path):
    policy = HttpPolicy(allow_private_network=True, retries=2, backoff_factor=0, read_timeout=0.2, total_timeout=5)
    with LocalServer({"/x": Route(body=b"late", delay=30)}) as server, HttpClient(policy) as client:
        cache, request = ResponseCache(tmp_path / "cache"), FetchRequest(server.url("/x"), "pages")
        first = Fetcher(client, cache=cache, recheck_budget=0.3).fetch_all([request])[0]
        retried = len(server.requests)
        started = time.monotonic()
        second = Fetcher(client, cache=cache, recheck_budget=0.3).fetch_all([request])[0]
        took = time.monotonic() - started
    assert first.error.timed_out and retried == 3  # the normal policy retries a read timeout
    assert second.error.timed_out and len(server.requests) == retried + 1 and took < 0.6


def test_a_host_s_wait_budget_is_per_run():
    limits = FetchLimits(concurrency=2, per_host=1, host_wait=0.4)
    policy = HttpPolicy(allow_private_network=True, retries=0, total_timeout=0.3)
    with LocalServer({"/x": Route(body=b"late", delay=30)}) as server, HttpClient(policy) as client:
        fetcher = Fetcher(client, limits=limits)
        limits.begin_run("first")
        timed_out, refused = fetcher.fetch_all(FetchRequest(server.url(f"/x?i={i}"), "pages") for i in range(2))
        sent_in_first = len(server.requests)
        limits.begin_run("second")
        (again,) = fetcher.fetch_all([FetchRequest(server.url("/x?i=1"), "pages")])
    assert timed_out.error.timed_out and sent_in_first == 1  # 0.1 s left: too little for another request
    assert refused.error.reason.startswith("not asked") and "wait budget (0.4 s" in refused.error.reason
    assert again.error.timed_out and len(server.requests) == 2  # a new run, a new budget


def test_process_limits_are_one_object_per_configuration():
    assert process_limits(8, 2) is process_limits(8, 2) and process_limits(8, 3) is not process_limits(8, 2)
    with pytest.raises(ValueError):  # shared limits or its own, not both
        Fetcher(_client(), limits=process_limits(8, 2), per_host=3)
