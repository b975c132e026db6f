"""Concurrent, polite and conditional fetching against real local servers."""

from __future__ import annotations

import threading
import time

from impact_pipeline.lib.fetching import Fetcher, FetchRequest, ResponseCache
from impact_pipeline.lib.http import HttpClient, HttpPolicy
from impact_pipeline_tests.support.http_server import LocalServer, Route


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
