"""Web archive evidence: the CDX source against a local Wayback-compatible server, and (c) judged on its captures.

The server implements what the pipeline relies on from the Internet Archive's CDX API: JSON with a header row,
`[]` for no capture, `from`/`to` years, `collapse=timestamp:N`, a 429 with Retry-After before answering, a 503.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.quality import criterion as c
from impact_pipeline.defs.quality import web_archive as wa
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
from impact_pipeline_tests.defs.quality.test_criterion import CONFIG
from impact_pipeline_tests.support.http_server import LocalServer, Route

HEADER = ["timestamp", "statuscode", "original"]
# What the archive holds per URL: (timestamp, status). Two captures the same day test `collapse`.
ARCHIVE = {
    "https://in.fr/stats": [("20230514101010", "200"), ("20230514181818", "200")],
    "https://before.fr/stats": [("20210301000000", "200")],
    "https://after.fr/stats": [("20240801000000", "200")],
    "https://early.fr/stats": [("20240210120000", "200")],
    "https://gone.fr/stats": [("20230301000000", "404"), ("20231101000000", "404")],
    "https://none.fr/stats": [],
    "https://busy.fr/stats": [("20230601000000", "200")],
    "https://moved.fr/stats": [("20230601000000", "301")],
}
DOWN = "https://down.fr/stats"
SERVICES = {u.split("//")[1].split(".")[0]: u for u in [*ARCHIVE, DOWN]}


def cdx_handler(seen: dict):
    def answer(request) -> Route:
        url = request.query["url"][0]
        seen[url] = seen.get(url, 0) + 1
        if url == DOWN:
            return Route(status=503, body="Service Unavailable")
        if url == "https://busy.fr/stats" and seen[url] == 1:
            return Route(status=429, headers={"Retry-After": "1"}, body="Too Many Requests")
        lo, hi = int(request.query["from"][0]), int(request.query["to"][0])
        width = int(request.query.get("collapse", ["timestamp:14"])[0].split(":")[1])
        rows, last = [], None
        for stamp, status in ARCHIVE.get(url, []):
            if lo <= int(stamp[:4]) <= hi and stamp[:width] != last:
                rows.append([stamp, status, url])
                last = stamp[:width]
        assert request.query["output"] == ["json"] and request.query["fl"] == [",".join(HEADER)]
        return Route(body=[HEADER, *rows] if rows else [])

    return answer


@pytest.fixture
def archived_world(warehouse_factory):
    """Services declaring these stats pages in the registry observed at the end of 2021 and 2023, and now."""
    warehouse = warehouse_factory([{"startup_id": s, "stats_url": u} for s, u in SERVICES.items()])
    with warehouse.connect() as con:
        for sha, observed in (("h2021", "2021-12-31"), ("h2023", "2023-12-31"), ("now", "2026-11-28 10:00:00")):
            con.execute(
                "INSERT INTO registry_raw (fetched_at, observed_at, source_url, final_url, sha256, "
                "n_bytes, n_startups) "
                "VALUES ('2026-11-28 10:00:00', ?, 'u', 'u', ?, 1, 1)",
                [observed, sha],
            )
            if sha != "now":
                for s, u in SERVICES.items():
                    con.execute(
                        "INSERT INTO registry_declarations (sha256, startup_id, stats_url) VALUES (?, ?, ?)",
                        [sha, s, u],
                    )
    return warehouse


def materialize(warehouse, base: str):
    resources = {
        "warehouse": warehouse,
        "criteria": CriteriaSettings(path=str(DEFAULT_CRITERIA_PATH)),
        "quality": QualitySources(web_archive_url=base, http=HttpSettings(allow_private_network=True)),
    }
    result = dg.materialize([wa.web_archive_captures], resources=resources, raise_on_error=False)
    assert result.success
    return result


def stats(warehouse, keys) -> dict:
    with warehouse.connect() as con:
        out = c.criterion_c(con, pd.DataFrame(keys, columns=["year", "startup_id"]), CONFIG)
    return {(r.year, r.startup_id): r.evidence["sub_criteria"]["impact_statistics"] for r in out.itertuples()}


def test_captures_in_the_window_decide_the_year_and_are_the_evidence(archived_world):
    seen: dict = {}
    with LocalServer({"/cdx/search/cdx": Route(handler=cdx_handler(seen))}) as server:
        materialize(archived_world, server.url(""))
        got = stats(archived_world, [(2023, s) for s in SERVICES] + [(2021, "before"), (2020, "before")])
        link = server.url("/web/20230514101010/https://in.fr/stats")  # collapse keeps the first of the day
    assert got[(2023, "in")]["verdict"] == "pass"
    assert (
        got[(2023, "in")]["reason"]
        == f"https://in.fr/stats captured answering HTTP 200 on 2023-05-14 (web archive: {link})"
    )
    assert got[(2023, "in")]["capture"] == {"captured_at": "2023-05-14", "status_code": 200, "capture_url": link}
    # A capture before the window (2021) or after it (August 2024) says nothing about 2023.
    assert got[(2023, "before")]["verdict"] == got[(2023, "after")]["verdict"] == "unknown"
    assert got[(2021, "before")]["verdict"] == "pass"
    # March 2021 is in 2020's window too, but no registry document of that window declares the page: nothing to judge.
    assert got[(2020, "before")]["verdict"] == "unknown" and "no registry document" in got[(2020, "before")]["reason"]
    # Captured in February 2024: inside 2023's window.
    assert got[(2023, "early")]["verdict"] == "pass" and "2024-02-10" in got[(2023, "early")]["reason"]
    gone = got[(2023, "gone")]
    assert gone["verdict"] == "fail" and "HTTP 404 on 2023-11-01" in gone["reason"]
    assert (
        got[(2023, "none")]["verdict"] == "unknown" and got[(2023, "moved")]["verdict"] == "unknown"
    )  # a redirect proves nothing
    assert got[(2023, "busy")]["verdict"] == "pass"  # 429 with Retry-After, then the answer
    down = got[(2023, "down")]
    assert (
        down["verdict"] == "unknown" and "the web archive did not answer" in down["reason"] and "503" in down["reason"]
    )
    assert seen["https://busy.fr/stats"] == 2 and seen[DOWN] >= 2  # retried, politely
    assert all(n == 1 for u, n in seen.items() if u not in ("https://busy.fr/stats", DOWN))  # one query per URL


def test_a_second_run_asks_only_what_can_still_change(archived_world):
    seen: dict = {}
    with LocalServer({"/cdx/search/cdx": Route(handler=cdx_handler(seen))}) as server:
        materialize(archived_world, server.url(""))
        first = [r.query for r in server.requests]
        assert {q["from"][0] for q in first} == {"2016"} and {q["to"][0] for q in first} == {str(datetime.now().year)}
        assert {q["collapse"][0] for q in first} == {wa.COLLAPSE}
        n_first = len(server.requests)
        materialize(
            archived_world, server.url("")
        )  # the same day: only the URL the archive did not answer is asked again
        assert {r.query["url"][0] for r in server.requests[n_first:]} == {DOWN}
        n_first = len(server.requests)
        # As if the answers were from March 2025: 2024's window was open then, every earlier one had closed.
        with archived_world.connect() as con:
            con.execute("UPDATE web_archive_queries SET asked_at = '2025-03-01'")
        materialize(archived_world, server.url(""))
        again = [r.query for r in server.requests[n_first:]]
    answered = {u for u in SERVICES.values() if u != DOWN}
    assert {q["url"][0] for q in again} == answered | {DOWN}
    assert {q["from"][0] for q in again if q["url"][0] != DOWN} == {"2024"} and {
        q["from"][0] for q in again if q["url"][0] == DOWN
    } == {"2016"}
    # The 2023 capture is still stored: years outside the question are never dropped.
    assert stats(archived_world, [(2023, "in")])[(2023, "in")]["verdict"] == "pass"


def test_plan_and_windows():
    now = datetime(2026, 3, 10)
    assert wa.first_open_year(datetime(2025, 6, 30), 6) == 2024 and wa.first_open_year(datetime(2025, 7, 1), 6) == 2025
    assert wa.plan(["a", "b", "c"], {"b": now - timedelta(hours=2), "c": datetime(2024, 12, 1)}, now, 2016, 6) == [
        ("a", 2016, 2026),
        ("c", 2024, 2026),
    ]


@pytest.mark.parametrize(
    "document, rows",
    [
        ([], []),
        ([HEADER], []),
        (
            [
                HEADER,
                ["20230514101010", "200", "https://x"],
                ["20230101", "-", "https://x"],
                ["bad", "200", "x"],
                ["short"],
            ],
            [(datetime(2023, 5, 14, 10, 10, 10), 200, "https://x"), (datetime(2023, 1, 1), None, "https://x")],
        ),
    ],
)
def test_cdx_answers_are_read_as_the_server_gives_them(document, rows):
    assert wa.parse_cdx(document) == rows


def test_a_page_that_is_not_a_cdx_answer_is_refused():
    with pytest.raises(ValueError):
        wa.parse_cdx({"error": "rate limited"})


def test_c_passes_for_a_past_year_on_dated_evidence_alone_never_on_a_later_check(warehouse_factory):
    declared = {
        "stats_url": "https://p.fr/stats",
        "repository": "https://github.com/o/p",
        "contact": "p@p.fr",
        "accessibility_status": "partiellement conforme",
    }
    warehouse = warehouse_factory([{"startup_id": s, **declared} for s in ("archived", "checked_late")])
    with warehouse.connect() as con:
        for sha, observed in (("h2023", "2023-12-31"), ("now", "2026-11-28 10:00:00")):
            con.execute(
                "INSERT INTO registry_raw (fetched_at, observed_at, source_url, final_url, sha256, "
                "n_bytes, n_startups) "
                "VALUES ('2026-11-28 10:00:00', ?, 'u', 'u', ?, 1, 1)",
                [observed, sha],
            )
        con.execute(
            "INSERT INTO registry_declarations (sha256, startup_id, stats_url, repository, contact, "
            "accessibility_status) "
            "SELECT 'h2023', startup_id, stats_url, repository, contact, accessibility_status FROM startups "
            "WHERE startup_id = 'archived'"
        )
        con.execute(
            "INSERT INTO registry_declarations (sha256, startup_id, stats_url, repository, contact, "
            "accessibility_status) "
            "SELECT 'h2023', 'checked_late', NULL, 'https://github.com/o/q', contact, "
            "accessibility_status FROM startups "
            "LIMIT 1"
        )
        for s, repo in (("archived", "github.com/o/p"), ("checked_late", "github.com/o/q")):
            con.execute(
                "INSERT INTO repository_activity (startup_id, year, forge, repo, repo_url, commits_in_year, public, "
                "status, fetched_at) VALUES (?, 2023, 'github', ?, ?, 7, TRUE, 'ok', '2026-11-28')",
                [s, repo, f"https://{repo}"],
            )
        for url, stamp in (("https://p.fr/stats", "20230514101010"), ("https://github.com/o/p", "20230302000000")):
            con.execute(
                "INSERT INTO web_archive_captures VALUES (?, strptime(?, '%Y%m%d%H%M%S'), 200, ?, ?, '2026-11-28')",
                [url, stamp, url, f"https://web.archive.org/web/{stamp}/{url}"],
            )
        con.execute(
            "INSERT INTO web_archive_queries VALUES ('https://p.fr/stats', 2016, 2026, '2026-11-28', TRUE, 1, NULL)"
        )
        # Checks made today answer: evidence for 2026, never for 2023.
        con.execute(
            "INSERT INTO stats_page_checks (startup_id, kind, url, status_code, ok, checked_at) VALUES "
            "('checked_late', 'stats_url', 'https://p.fr/stats', 200, TRUE, '2026-11-28'), "
            "('checked_late', 'repository', 'https://github.com/o/q', 200, TRUE, '2026-11-28')"
        )
        out = c.criterion_c(
            con, pd.DataFrame([(2023, "archived"), (2023, "checked_late")], columns=["year", "startup_id"]), CONFIG
        )
    rows = {r.startup_id: r for r in out.itertuples()}
    archived = rows["archived"]
    assert archived.verdict == "pass", archived.reason
    stats = archived.evidence["sub_criteria"]["impact_statistics"]
    assert stats["capture"]["capture_url"] == "https://web.archive.org/web/20230514101010/https://p.fr/stats"
    shared = archived.evidence["sub_criteria"]["resources_shared"]
    assert shared["verdict"] == "pass" and "captured answering HTTP 200 on 2023-03-02" in shared["reason"]
    assert archived.evidence["registry_as_of"] == "2023-12-31"
    # The same service checked only in 2026: the registry of 2023 declared no stats page, and the 2026 checks are
    # not 2023's evidence, so nothing passes on them.
    late = rows["checked_late"]
    assert late.verdict == "fail" and "registry of 2023-12-31: no stats page declared" in late.reason
    assert late.evidence["sub_criteria"]["resources_shared"]["verdict"] == "unknown"
