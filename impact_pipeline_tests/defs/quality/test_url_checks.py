"""Stats page and repository checks against a local server: redirects, time-outs, 404s, conditional refresh."""

from __future__ import annotations

import json

from impact_pipeline.defs.quality.url_checks import Target, run_checks, run_recorded_checks, targets_from_startups
from impact_pipeline.lib.fetching import Fetcher, ResponseCache
from impact_pipeline.lib.http import HttpClient, HttpPolicy
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.support.http_server import Route


def _fetcher(tmp_path):
    client = HttpClient(HttpPolicy(allow_private_network=True, retries=0, total_timeout=1.0, read_timeout=1.0))
    return Fetcher(client, cache=ResponseCache(tmp_path / "cache"))


def test_checks_keep_status_time_and_final_url(local_server, tmp_path):
    s = local_server

    def stats(request):
        if request.headers.get("If-None-Match") == '"s1"':
            return Route(status=304, headers={"ETag": '"s1"'})
        return Route(body="<html>stats</html>", headers={"ETag": '"s1"'})

    s.add("/stats", Route(status=301, headers={"Location": "/stats/public"}))
    s.add("/stats/public", Route(handler=stats))
    s.add("/slow", Route(delay=3, body="late"))
    s.add("/gone", Route(status=404, body="no"))
    targets = targets_from_startups(
        [
            {"startup_id": "redirects", "stats_url": f" {s.url('/stats')} ", "repository": s.url("/gone")},
            {"startup_id": "slow", "stats_url": s.url("/slow"), "repository": None},
            {"startup_id": "not-web", "stats_url": "stats.example.fr/page", "repository": "file:///etc/passwd"},
        ]
    )
    assert [(t.startup_id, t.kind) for t in targets] == [
        ("redirects", "stats_url"),
        ("redirects", "repository"),
        ("slow", "stats_url"),
        ("not-web", "stats_url"),
        ("not-web", "repository"),
    ]
    rows = {(r["startup_id"], r["kind"]): r for r in run_checks(targets, _fetcher(tmp_path))}
    ok = rows[("redirects", "stats_url")]
    assert ok["ok"] and ok["status_code"] == 200 and ok["final_url"] == s.url("/stats/public") and ok["checked_at"]
    gone = rows[("redirects", "repository")]
    assert not gone["ok"] and gone["status_code"] == 404 and "404" in gone["error"]
    slow = rows[("slow", "stats_url")]
    assert not slow["ok"] and slow["status_code"] is None and "timed out" in slow["error"]
    for kind in ("stats_url", "repository"):
        assert not rows[("not-web", kind)]["ok"] and "not an http(s) URL" in rows[("not-web", kind)]["error"]
    assert not [r for r in s.requests if "passwd" in r.path]

    # second run: the stats page is asked conditionally and its 304 still counts as answering
    first = len(s.requests)
    fetcher = _fetcher(tmp_path)
    again = {(r["startup_id"], r["kind"]): r for r in run_checks(targets[:1], fetcher)}
    page_requests = [r for r in s.requests[first:] if r.path == "/stats/public"]
    assert page_requests[0].headers.get("If-None-Match") == '"s1"'
    assert again[("redirects", "stats_url")]["ok"] and fetcher.stats.as_dict()["url_checks"]["not_modified"] == 1


def test_recorded_answers_replace_the_network_offline(tmp_path):
    recorded = tmp_path / "answers.json"
    recorded.write_text(
        json.dumps(
            {
                "recorded_at": "2026-03-02T09:00:00Z",
                "answers": {
                    "https://a.test/stats": {"status_code": 200, "final_url": "https://a.test/stats/"},
                    "https://b.test/stats": {"status_code": 404, "error": "HTTP 404 Not Found"},
                },
            }
        )
    )
    rows = run_recorded_checks(
        [
            Target("a", "stats_url", "https://a.test/stats"),
            Target("b", "stats_url", "https://b.test/stats"),
            Target("c", "stats_url", "https://c.test/stats"),
        ],
        recorded,
    )
    assert [(r["ok"], r["status_code"], r["checked_at"]) for r in rows][:2] == [
        (True, 200, "2026-03-02T09:00:00"),
        (False, 404, "2026-03-02T09:00:00"),
    ]
    assert rows[2]["ok"] is False and "no recorded answer" in rows[2]["error"]


def test_a_stats_page_that_times_out_costs_one_timeout_and_a_flaky_one_is_asked_again(local_server, tmp_path):
    import time

    from impact_pipeline.defs.quality.resources import QualitySources

    s = local_server
    s.add("/slow", Route(delay=5, body="late"))
    s.add("/flaky", [Route(status=503, body="busy", headers={"Retry-After": "1"}), Route(body="<html>stats</html>")])
    # Two services declare the same slow page; a third a page that is busy once.
    targets = targets_from_startups(
        [
            {"startup_id": "a", "stats_url": s.url("/slow"), "repository": None},
            {"startup_id": "b", "stats_url": s.url("/slow"), "repository": s.url("/slow")},
            {"startup_id": "c", "stats_url": s.url("/flaky"), "repository": None},
        ]
    )
    # The run's own policy, scaled down: in production a read times out after 10 s of a 20 s budget, room for a retry.
    quality = QualitySources(http=HttpSettings(allow_private_network=True), check_timeout_seconds=3.0)
    client = quality.client(**{**quality.check_policy_overrides(), "read_timeout": 1.0})
    started = time.monotonic()
    try:
        rows = {(r["startup_id"], r["kind"]): r for r in run_checks(targets, quality.fetcher(client, str(tmp_path)))}
    finally:
        client.close()
    elapsed = time.monotonic() - started
    assert len(s.requests_to("/slow")) == 1  # one timeout for the run, never retried
    assert all("timed out" in rows[k]["error"] for k in (("a", "stats_url"), ("b", "stats_url"), ("b", "repository")))
    assert elapsed < 2.9  # one 1 s timeout, the 0.5 s pause and the flaky page; a retried timeout would add 1 s+
    assert len(s.requests_to("/flaky")) == 2 and rows[("c", "stats_url")]["ok"]
