"""Repository activity and stats page checks fetched side by side: overlap, shared limits, one failing alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb

from impact_pipeline.defs.quality.assets import activity_and_page_checks
from impact_pipeline.defs.quality.forges import ForgeApi, collect_activity, parse_repository
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.defs.quality.url_checks import Target, run_checks
from impact_pipeline.lib.fetching import Fetcher, FetchLimits, ResponseCache, start_each
from impact_pipeline.lib.http import HttpClient, HttpPolicy
from impact_pipeline.settings import SAMPLE_QUALITY_DIR
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.in_flight import InFlight

NOW = datetime(2025, 11, 1, tzinfo=UTC)
OLD_REPO = {"pushed_at": "2020-01-01T00:00:00Z", "archived": False, "private": False}  # no commits asked for 2025


def _client():
    return HttpClient(HttpPolicy(allow_private_network=True, retries=0, total_timeout=10))


def _side_by_side(repos, apis, targets, limits, cache):
    """What the multi-asset does: both fetch sets in their threads, their fetchers sharing `limits`."""
    client = _client()

    def make(guard):
        return Fetcher(
            client, cache=ResponseCache(cache), limits=limits, should_skip=guard.should_skip, on_outcome=guard.observe
        )

    checks_fetcher = Fetcher(client, cache=ResponseCache(cache), limits=limits)
    try:
        results = start_each(
            {
                "activity": lambda: collect_activity(repos, [2025], apis, make, now=NOW),
                "checks": lambda: run_checks(targets, checks_fetcher),
            }
        )
        activity, checks = results["activity"].result(), results["checks"].result()
    finally:
        client.close()
    return activity, checks, checks_fetcher.stats.as_dict()


def test_activity_and_url_checks_overlap_and_share_the_limits_per_host_and_in_total(tmp_path):
    # api.github.com (the API) and a GitLab host serving both its API and repository pages (gitlab.com does),
    # plus a stats page host.
    flight = InFlight()
    with LocalServer() as github, LocalServer() as gitlab, LocalServer() as pages:
        for i in range(6):
            github.add(f"/repos/org/r{i}", flight.route("api.github", OLD_REPO))
            pages.add(f"/stats{i}", flight.route("pages"))
        for i in range(3):
            gitlab.add(
                f"/api/v4/projects/group%2Fp{i}", flight.route("gitlab", {"last_activity_at": "2020-01-01T00:00:00Z"})
            )
            gitlab.add(f"/group/p{i}", flight.route("gitlab"))
        repos = [(f"g{i}", parse_repository(f"https://github.com/org/r{i}")) for i in range(6)]
        repos += [(f"l{i}", parse_repository(f"https://gitlab.com/group/p{i}")) for i in range(3)]
        apis = {
            "github": ForgeApi("github", github.url("/").rstrip("/")),
            "gitlab": ForgeApi("gitlab", gitlab.url("/api/v4")),
        }
        targets = [Target(f"s{i}", "stats_url", pages.url(f"/stats{i}")) for i in range(6)]
        targets += [Target(f"l{i}", "repository", gitlab.url(f"/group/p{i}")) for i in range(3)]
        (rows, summary), checks, check_stats = _side_by_side(
            repos, apis, targets, FetchLimits(concurrency=5, per_host=2), tmp_path
        )
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 9
    assert len(checks) == 9 and all(c["ok"] for c in checks)
    assert summary["requests"]["github"]["requests"] == 6 and summary["requests"]["gitlab"]["requests"] == 3
    assert check_stats["url_checks"]["requests"] == 9 and check_stats["url_checks"]["errors"] == 0
    # overlapped: a URL check was in flight while a repository request was
    assert frozenset({"api.github", "pages"}) in flight.together
    # limits for both sets together: 2 per host (the GitLab host too, though both sets ask it), 5 in total
    assert flight.peak_host == {"api.github": 2, "gitlab": 2, "pages": 2}
    assert flight.peak_total == 5


def test_a_github_rate_limit_mid_run_stops_the_api_but_not_the_url_checks(tmp_path):
    with LocalServer() as github, LocalServer() as pages:
        github.add("/repos/org/first", Route(body=OLD_REPO, headers={"X-RateLimit-Remaining": "1"}))
        github.add(
            "/repos/org/limited",
            Route(
                status=403,
                body={"message": "API rate limit exceeded"},
                delay=0.1,
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1764000000"},
            ),
        )
        for name in ("later1", "later2", "later3"):
            github.add(f"/repos/org/{name}", Route(body=OLD_REPO))
        for i in range(8):  # github.com pages are another host, with no API rate limit
            pages.add(f"/org/repo{i}", Route(body="<html>repo</html>", delay=0.05))
        repos = [
            (n, parse_repository(f"https://github.com/org/{n}"))
            for n in ("first", "limited", "later1", "later2", "later3")
        ]
        apis = {"github": ForgeApi("github", github.url("/").rstrip("/")), "gitlab": ForgeApi("gitlab", "")}
        targets = [Target(f"s{i}", "repository", pages.url(f"/org/repo{i}")) for i in range(8)]
        (rows, summary), checks, check_stats = _side_by_side(
            repos, apis, targets, FetchLimits(concurrency=8, per_host=1), tmp_path
        )
        asked_api = [r.path for r in github.requests]
    by = {r["startup_id"]: r for r in rows}
    assert asked_api == ["/repos/org/first", "/repos/org/limited"]  # one at a time: nothing after the 403
    assert "github" in summary["rate_limited"]
    assert {by[n]["status"] for n in ("limited", "later1", "later2", "later3")} == {"rate_limited"}
    assert by["later3"]["commits_in_year"] is None and "rate limit is exhausted" in by["later3"]["reason"]
    # every URL check was made and answered, none marked rate limited
    assert len(checks) == 8 and all(c["ok"] for c in checks) and check_stats["url_checks"]["requests"] == 8


# -- the Dagster multi-asset on the sample world's offline sources ---------------------------------------------------
SAMPLE_STARTUPS = [
    {
        "startup_id": "boussole",
        "repository": "https://github.com/exemple-org/boussole-demo",
        "stats_url": "https://boussole.exemple.test/stats",
    },
    {"startup_id": "carnet", "stats_url": "https://carnet.exemple.test/stats"},
]


def _sample_sources(**overrides) -> QualitySources:
    return QualitySources(
        **{
            "github_api_url": str(SAMPLE_QUALITY_DIR / "github"),
            "gitlab_api_url": str(SAMPLE_QUALITY_DIR / "gitlab"),
            "gitlab_self_hosted": False,
            "url_checks": True,
            "url_checks_recorded": str(SAMPLE_QUALITY_DIR / "url_checks.json"),
            **overrides,
        }
    )


def _materialize(warehouse, quality, selection, partition_key=None):
    return dg.materialize(
        [activity_and_page_checks],
        selection=selection,
        partition_key=partition_key,
        resources={"quality": quality, "warehouse": warehouse},
        raise_on_error=False,
    )


def _tables(warehouse):
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    try:
        return (
            con.execute("SELECT startup_id, year, status FROM repository_activity ORDER BY ALL").fetchall(),
            con.execute("SELECT startup_id, kind, ok FROM stats_page_checks ORDER BY ALL").fetchall(),
        )
    finally:
        con.close()


def _materialized(result):
    return sorted((e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events())


def test_each_asset_stays_materializable_alone_and_both_together(warehouse_factory):
    warehouse = warehouse_factory(SAMPLE_STARTUPS)
    checks_only = _materialize(warehouse, _sample_sources(), ["stats_page_checks"])
    assert checks_only.success and _materialized(checks_only) == [("stats_page_checks", None)]
    activity, checks = _tables(warehouse)
    assert activity == [] and len(checks) == 3

    activity_only = _materialize(warehouse, _sample_sources(), ["repository_activity"], partition_key="2025")
    assert activity_only.success and _materialized(activity_only) == [("repository_activity", "2025")]
    activity, _ = _tables(warehouse)
    assert [(sid, year) for sid, year, _ in activity] == [("boussole", 2025)]

    both = _materialize(
        warehouse, _sample_sources(), ["repository_activity", "stats_page_checks"], partition_key="2026"
    )
    assert both.success and _materialized(both) == [("repository_activity", "2026"), ("stats_page_checks", None)]
    event = next(
        e for e in both.get_asset_materialization_events() if e.asset_key.to_user_string() == "stats_page_checks"
    )
    assert event.materialization.metadata["status"].value == "recorded answers (offline)"
    activity, checks = _tables(warehouse)
    assert [(sid, year) for sid, year, _ in activity] == [("boussole", 2025), ("boussole", 2026)] and len(checks) == 3


def test_url_checks_disabled_leave_repository_activity_whole(warehouse_factory):
    warehouse = warehouse_factory(SAMPLE_STARTUPS)
    result = _materialize(
        warehouse,
        _sample_sources(url_checks=False, url_checks_recorded=""),
        ["repository_activity", "stats_page_checks"],
        partition_key="2026",
    )
    assert result.success
    events = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert events["stats_page_checks"]["status"].value == "disabled"
    assert events["repository_activity"]["dagster/row_count"].value == 1
    activity, checks = _tables(warehouse)
    assert activity == [("boussole", 2026, "ok")] and checks == []


def test_url_checks_failing_keep_the_repository_activity_and_fail_the_step(warehouse_factory, tmp_path):
    warehouse = warehouse_factory(SAMPLE_STARTUPS)
    assert _materialize(warehouse, _sample_sources(), ["stats_page_checks"]).success
    _, checks_before = _tables(warehouse)
    broken = tmp_path / "answers.json"
    broken.write_text("{ not json")
    result = _materialize(
        warehouse,
        _sample_sources(url_checks_recorded=str(broken)),
        ["repository_activity", "stats_page_checks"],
        partition_key="2026",
    )
    assert not result.success  # the failure shows
    assert _materialized(result) == [("repository_activity", "2026")]  # and the activity is kept
    activity, checks = _tables(warehouse)
    assert activity == [("boussole", 2026, "ok")] and checks == checks_before  # earlier checks untouched
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "JSONDecodeError" in json.dumps(str(failure.event_specific_data.error))
