"""Criterion (c): each sub-criterion's rule, how they combine, and the criterion over real DuckDB tables.

Every case builds the quality tables in a real DuckDB file and runs the SQL criterion on it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.quality import criterion as c
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
from impact_pipeline_tests.support.criteria import criteria_with

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)
NOW = "2026-11-28 10:00:00"  # the registry fetch, unless a test says otherwise

OBSERVATOIRE = {
    "edition": "E",
    "edition_id": "e",
    "procedure_ids": ["p"],
    "n_procedures": 1,
    "goals_reached": 0,
    "goals_total": 0,
    "help_reachable": None,
    "evidence_url": "u",
}
ACTIVITY = {
    "forge": "github",
    "repo": "github.com/o/r",
    "repo_url": "https://github.com/o/r",
    "commits_in_year": 3,
    "last_push": "2025-05-01",
    "archived": False,
    "public": None,
    "status": "ok",
    "reason": None,
    "fetched_at": NOW,
}
CHECK = {
    "kind": "stats_url",
    "url": "https://x.fr/stats",
    "status_code": 200,
    "ok": True,
    "final_url": "https://x.fr/s",
    "checked_at": "2026-03-02",
    "error": None,
}


def _insert(con, table: str, row: dict) -> None:
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


def world(warehouse_factory, startups, *, registry_at=NOW, observatoire=(), activity=(), checks=(), procedures=True):
    """A working DuckDB file with these startups and quality rows (each row over the defaults above)."""
    warehouse = warehouse_factory(startups)
    with warehouse.connect() as con:
        if registry_at:
            con.execute(
                "INSERT INTO registry_raw (fetched_at, source_url, final_url, sha256, n_bytes, n_startups, "
                "document) VALUES (?, 'u', 'u', 's', 1, 1, NULL)",
                [registry_at],
            )
        if procedures:
            con.execute(
                "INSERT INTO observatoire_procedures (edition_id, edition, procedure_id, indicator) "
                "VALUES ('e', 'E', 'p', 'online')"
            )
        for row in observatoire:
            _insert(con, "startup_observatoire", {**OBSERVATOIRE, **row})
        for row in activity:
            _insert(con, "repository_activity", {**ACTIVITY, **row})
        for row in checks:
            _insert(con, "stats_page_checks", {**CHECK, **row})
    return warehouse


def judge(warehouse, keys, config=CONFIG) -> dict:
    """(year, startup_id) → the criterion's row, for each key."""
    with warehouse.connect() as con:
        out = c.criterion_c(con, pd.DataFrame(keys, columns=["year", "startup_id"]), config)
    assert len(out) == len(keys)
    return {(r.year, r.startup_id): r for r in out.itertuples()}


def sub(rows, key, name) -> dict:
    return rows[key].evidence["sub_criteria"][name]


def with_rules(**section) -> object:
    return criteria_with({"criteria": {"c": section}})


def test_checks_count_for_their_year_and_early_next_year_only(warehouse_factory):
    startups = [{"startup_id": s, "stats_url": "https://x.fr/stats"} for s in ("nov", "march", "june", "july")]
    # The registry observed in March 2026 is in the windows of 2025 and 2026.
    w = world(
        warehouse_factory,
        startups,
        registry_at="2026-03-01",
        checks=[
            {"startup_id": "nov", "checked_at": "2026-11-28"},
            {"startup_id": "march", "checked_at": "2026-03-02"},
            {"startup_id": "june", "checked_at": "2026-06-30 23:59:59"},
            {"startup_id": "july", "checked_at": "2026-07-01"},
        ],
    )
    keys = [
        (2026, "nov"),
        (2025, "march"),
        (2025, "june"),
        (2025, "july"),
        (2024, "march"),
        (2027, "march"),
        (2019, "nov"),
    ]
    rows = judge(w, keys)
    verdicts = {k: sub(rows, k, "impact_statistics")["verdict"] for k in keys}
    assert verdicts[(2026, "nov")] == verdicts[(2025, "march")] == verdicts[(2025, "june")] == "pass"
    assert (
        verdicts[(2025, "july")]
        == verdicts[(2024, "march")]
        == verdicts[(2027, "march")]
        == verdicts[(2019, "nov")]
        == "unknown"
    )
    assert sub(rows, (2025, "july"), "impact_statistics")["reason"] == (
        "no check or web archive capture of the stats page in 2025's evidence window (2025-01-01 to 2026-06-30) "
        "(the web archive was not asked about it)"
    )
    assert sub(rows, (2019, "nov"), "impact_statistics")["reason"] == (
        "no registry document of 2019's evidence window (2019-01-01 to 2020-06-30) lists the service"
    )
    # Today's checks never stand for earlier years: the old what-if switch is refused, not silently honoured.
    with pytest.raises(ValueError, match="apply_to_past_years was removed"):
        judge(
            w,
            [(2019, "nov")],
            with_rules(current_checks={"valid_into_next_year_months": 6, "apply_to_past_years": True}),
        )


def test_observatoire_goals(warehouse_factory):
    w = world(
        warehouse_factory,
        [{"startup_id": s} for s in ("three", "none", "open", "absent")],
        observatoire=[
            {"startup_id": "three", "year": 2025, "goals_reached": 3, "goals_total": 4},
            {"startup_id": "none", "year": 2025, "goals_reached": 0, "goals_total": 5},
            {"startup_id": "open", "year": 2025, "goals_reached": 1, "goals_total": 2},
        ],
    )
    keys = [(2025, s) for s in ("three", "none", "open", "absent")]
    rows = judge(w, keys)
    assert [sub(rows, k, "observatoire_goals")["verdict"] for k in keys] == [
        "pass",
        "fail",
        "unknown",
        "not_applicable",
    ]
    assert sub(rows, (2025, "open"), "observatoire_goals")["reason"] == (
        "1 of the 5 headline goals reached in E (2 known): too many placeholders to tell whether 3 are reached"
    )
    with w.connect() as con:
        con.execute("DELETE FROM observatoire_procedures")  # the source is disabled or unreachable
    assert sub(judge(w, [(2025, "absent")]), (2025, "absent"), "observatoire_goals")["verdict"] == "unknown"


@pytest.mark.parametrize(
    "status, verdict",
    [
        ("totalement conforme", "pass"),
        ("partiellement conforme", "pass"),
        ("non conforme", "fail"),
        (None, "fail"),
        ("", "fail"),
        ("bizarre", "unknown"),
        (" Non Conforme ", "fail"),
        ("\u00a0", "fail"),
    ],
)
def test_accessibility(warehouse_factory, status, verdict):
    # Another service declares a status: the registry has the field, so a blank one is "not declared".
    others = [{"startup_id": "b", "accessibility_status": "non conforme"}]
    rows = judge(
        world(warehouse_factory, [{"startup_id": "a", "accessibility_status": status}, *others]),
        [(2026, "a"), (2024, "a")],
    )
    assert sub(rows, (2026, "a"), "accessibility")["verdict"] == verdict
    assert sub(rows, (2024, "a"), "accessibility")["verdict"] == "unknown"


def test_accessibility_is_unknown_in_a_registry_that_had_no_such_field_yet(warehouse_factory):
    # As in the registry's year-end documents up to 2021: no service declares a status, the field did not exist.
    rows = judge(
        world(warehouse_factory, [{"startup_id": "a"}, {"startup_id": "b", "accessibility_status": ""}]),
        [(2026, "a"), (2026, "b")],
    )
    for key in ((2026, "a"), (2026, "b")):
        evidence = sub(rows, key, "accessibility")
        assert evidence["verdict"] == "unknown"
        assert "no service declares an accessibility status yet" in evidence["reason"]


def test_product_evolving(warehouse_factory):
    repo = "https://github.com/o/r"
    names = ("active", "idle", "fresh", "frozen", "limited", "norepo")
    w = world(
        warehouse_factory,
        [{"startup_id": s, "repository": None if s == "norepo" else repo} for s in names],
        registry_at="2026-03-01",
        activity=[
            {"startup_id": "active", "year": 2025},
            {"startup_id": "idle", "year": 2025, "commits_in_year": 0},
            {"startup_id": "fresh", "year": 2026, "commits_in_year": 0},
            {"startup_id": "frozen", "year": 2026, "commits_in_year": 0, "archived": True},
            {
                "startup_id": "limited",
                "year": 2025,
                "commits_in_year": None,
                "status": "rate_limited",
                "reason": "limit",
            },
        ],
    )
    rows = judge(
        w, [(2025, "active"), (2025, "idle"), (2026, "fresh"), (2026, "frozen"), (2025, "limited"), (2025, "norepo")]
    )
    verdict = lambda key: sub(rows, key, "product_evolving")["verdict"]  # noqa: E731
    assert verdict((2025, "active")) == "pass"
    assert verdict((2025, "idle")) == "fail"
    assert verdict((2026, "fresh")) == "unknown"  # year not over
    assert verdict((2026, "frozen")) == "fail"  # archived before the year began
    limited = sub(rows, (2025, "limited"), "product_evolving")
    assert limited["verdict"] == "unknown" and "rate_limited" in limited["reason"]
    assert verdict((2025, "norepo")) == "unknown"


def test_resources_shared_and_impact_statistics(warehouse_factory):
    s = {"repository": "https://github.com/o/r", "stats_url": "https://x.fr/stats"}
    startups = [
        {"startup_id": "public", **s},
        {"startup_id": "private", **s},
        {"startup_id": "checked", **s},
        {"startup_id": "bad", **s},
        {"startup_id": "unchecked", **s},
        {"startup_id": "ssh", "repository": "git@github.com:o/r", "stats_url": "stats.fr"},
        {"startup_id": "nothing", "repository": None, "stats_url": None},
    ]
    bad = {"ok": False, "status_code": 404, "error": "HTTP 404 Not Found"}
    w = world(
        warehouse_factory,
        startups,
        registry_at="2026-03-01",
        activity=[
            {"startup_id": "public", "year": 2026, "public": True},
            {"startup_id": "private", "year": 2026, "public": False},
            {"startup_id": "checked", "year": 2026, "public": True},  # fetched in November: says nothing about 2025
        ],
        checks=[
            {"startup_id": "public"},
            {"startup_id": "checked"},
            {"startup_id": "checked", "kind": "repository", "url": "https://github.com/o/r", "final_url": None},
            {"startup_id": "bad", **bad},
        ],
    )
    rows = judge(
        w,
        [
            (2026, "public"),
            (2026, "private"),
            (2025, "checked"),
            (2024, "checked"),
            (2026, "ssh"),
            (2023, "ssh"),
            (2026, "nothing"),
            (2023, "nothing"),
            (2026, "bad"),
            (2026, "unchecked"),
        ],
    )
    shared = lambda key: sub(rows, key, "resources_shared")["verdict"]  # noqa: E731
    stats = lambda key: sub(rows, key, "impact_statistics")  # noqa: E731
    assert shared((2026, "public")) == "pass"
    assert shared((2026, "private")) == "fail"
    assert shared((2025, "checked")) == "pass"  # the March check counts for 2025
    assert shared((2024, "checked")) == "unknown"
    assert shared((2026, "ssh")) == "fail"
    # a registry declaration read today says nothing about 2023
    assert shared((2023, "ssh")) == "unknown"
    assert stats((2023, "ssh"))["verdict"] == "unknown"
    assert shared((2026, "nothing")) == "unknown"
    assert stats((2026, "public"))["verdict"] == "pass"
    failed = stats((2026, "bad"))
    assert failed["verdict"] == "fail" and "HTTP 404" in failed["reason"]
    assert stats((2026, "nothing"))["verdict"] == "fail"
    assert stats((2023, "nothing"))["verdict"] == "unknown"
    unchecked = stats((2026, "unchecked"))
    assert unchecked["verdict"] == "unknown" and unchecked["reason"] == (
        "no check or web archive capture of the stats page in 2026's evidence window (2026-01-01 to 2027-06-30) "
        "(the web archive was not asked about it)"
    )


@pytest.mark.parametrize(
    "value, web",
    [
        ("https://x.fr/stats", True),
        (" https://x.fr/stats ", True),
        ("HTTP://X.FR", True),
        ("https://dé.fr/s", True),
        ("stats.fr", False),
        ("javascript:alert(1)", False),
        ("https://x.fr/a b", False),
        ("https:///stats", False),
        ("ftp://x.fr", False),
    ],
)
def test_web_addresses_are_what_the_url_checks_accept(warehouse_factory, value, web):
    from impact_pipeline.lib.urls import web_address

    assert (web_address(value) is not None) is web
    rows = judge(world(warehouse_factory, [{"startup_id": "a", "stats_url": value}]), [(2026, "a")])
    got = sub(rows, (2026, "a"), "impact_statistics")
    assert got["reason"] == (
        "no check or web archive capture of the stats page in 2026's evidence window "
        "(2026-01-01 to 2027-06-30) (the web archive was not asked about it)"
        if web
        else f"registry of 2026-11-28: the declared stats page '{value}' is not a web address"
    )


def test_team_answering_prefers_the_measure_and_labels_weak_signals(warehouse_factory):
    startups = [
        {"startup_id": s, "contact": "" if s == "silent" else "a@b.fr"} for s in ("high", "low", "contact", "silent")
    ]
    w = world(
        warehouse_factory,
        startups,
        observatoire=[
            {"startup_id": "high", "year": 2025, "help_reachable": 90.0},
            {"startup_id": "low", "year": 2025, "help_reachable": 70.0},
        ],
    )
    rows = judge(w, [(2025, "high"), (2025, "low"), (2026, "contact"), (2026, "silent")])
    measured = sub(rows, (2025, "high"), "team_answering")
    assert measured["verdict"] == "pass" and not measured["weak"]
    assert sub(rows, (2025, "low"), "team_answering")["verdict"] == "fail"
    weak = sub(rows, (2026, "contact"), "team_answering")
    assert weak["verdict"] == "pass" and weak["weak"] and "weak signal" in weak["reason"]
    assert sub(rows, (2026, "silent"), "team_answering")["verdict"] == "unknown"


def test_combination_and_reasons(warehouse_factory):
    repo = "https://github.com/o/r"
    fine = {
        "repository": repo,
        "stats_url": "https://x.fr/stats",
        "contact": "a@b.fr",
        "accessibility_status": "totalement conforme",
    }
    w = world(
        warehouse_factory,
        [
            {"startup_id": "all", **fine},
            {"startup_id": "two", **fine, "accessibility_status": "non conforme", "stats_url": None, "contact": ""},
            {"startup_id": "idle", **fine},
        ],
        observatoire=[
            {"startup_id": "idle", "year": 2026, "goals_reached": 1, "goals_total": 2, "help_reachable": 90.0}
        ],
        activity=[
            {"startup_id": "all", "year": 2026, "public": True},
            {"startup_id": "two", "year": 2026, "public": True},
            {"startup_id": "idle", "year": 2025, "public": True},
        ],  # no 2026 activity fetched
        checks=[{"startup_id": "all"}, {"startup_id": "idle"}],
    )
    rows = judge(w, [(2026, "all"), (2026, "two"), (2026, "idle")])
    verdict, reason = rows[(2026, "all")].verdict, rows[(2026, "all")].reason
    assert sub(rows, (2026, "all"), "observatoire_goals")["verdict"] == "not_applicable"
    assert verdict == "pass" and reason.startswith("(c) pass:")
    verdict, reason = rows[(2026, "two")].verdict, rows[(2026, "two")].reason
    assert sub(rows, (2026, "two"), "team_answering")["verdict"] == "unknown"
    assert verdict == "fail" and reason.startswith("(c) fails:")
    assert "accessibility: registry of 2026-11-28: accessibility 'non conforme'" in reason
    assert "impact statistics online: registry of 2026-11-28: no stats page declared" in reason
    verdict, reason = rows[(2026, "idle")].verdict, rows[(2026, "idle")].reason
    assert [sub(rows, (2026, "idle"), n)["verdict"] for n in ("observatoire_goals", "product_evolving")] == [
        "unknown",
        "unknown",
    ]
    assert verdict == "unknown" and reason.startswith("(c) unknown:") and "product evolving" in reason
    assert "observatoire goals" not in reason  # not required
    assert reason.count(". ") == 0 and reason.endswith(".")  # one sentence


def test_unknown_required_name_is_a_config_error():
    with pytest.raises(ValueError, match="unknown sub-criteria"):
        criteria_with({"criteria": {"c": {"required": ["stats"]}}})


def test_criterion_over_the_quality_tables(warehouse_factory):
    warehouse = warehouse_factory(
        [
            {
                "startup_id": "good",
                "stats_url": "https://g.fr/stats",
                "repository": "https://github.com/o/good",
                "contact": "g@g.fr",
                "accessibility_status": "partiellement conforme",
                "link": "https://g.fr",
            },
            {
                "startup_id": "bad",
                "stats_url": None,
                "repository": None,
                "contact": "",
                "accessibility_status": "non conforme",
            },
            {
                "startup_id": "limited",
                "stats_url": "https://l.fr/stats",
                "repository": "https://github.com/o/l",
                "contact": "l@l.fr",
                "accessibility_status": "totalement conforme",
            },
        ]
    )
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO registry_raw (fetched_at, source_url, final_url, sha256, n_bytes, n_startups, "
            "document) VALUES ('2026-02-01 10:00:00', 'u', 'u', 's', 1, 3, NULL)"
        )
        con.execute("""INSERT INTO startup_observatoire (startup_id, year, edition, edition_id,
                           procedure_ids, n_procedures,
                       goals_reached, goals_total, help_reachable, evidence_url)
                       VALUES ('good', 2025, 'E25', 'e', ['p1'], 1, 4, 5, 92.5, 'https://obs/api/procedures?editionId=e')""")
        con.execute(
            "INSERT INTO observatoire_procedures (edition_id, edition, procedure_id, indicator) VALUES ('e', "
            "'E25', 'p1', 'online')"
        )
        for sid, repo, commits, status in [
            ("good", "github.com/o/good", 12, "ok"),
            ("limited", "github.com/o/l", None, "rate_limited"),
        ]:
            con.execute(
                """INSERT INTO repository_activity (startup_id, year, forge, repo, repo_url,
                       commits_in_year, public, status,
                           reason, fetched_at) VALUES (?, 2025, 'github', ?, ?, ?, true, ?,
                               'the GitHub API rate limit is exhausted',
                           '2026-02-01 10:00:00')""",
                [sid, repo, "https://" + repo, commits, status],
            )
        for sid, kind, url in [
            ("good", "stats_url", "https://g.fr/stats"),
            ("limited", "stats_url", "https://l.fr/stats"),
        ]:
            con.execute(
                "INSERT INTO stats_page_checks (startup_id, kind, url, status_code, ok, final_url, checked_at) "
                "VALUES (?, ?, ?, 200, true, ?, '2026-02-01 10:00:00')",
                [sid, kind, url, url],
            )
        keys = pd.DataFrame({"year": [2025, 2025, 2025, 2024], "startup_id": ["good", "bad", "limited", "good"]})
        out = c.criterion_c(con, keys, CONFIG)
    assert list(zip(out["year"], out["startup_id"], strict=True)) == list(
        zip(keys["year"], keys["startup_id"], strict=True)
    )  # the keys' order
    by = {(r.year, r.startup_id): r for r in out.itertuples()}
    good = by[(2025, "good")]
    assert good.verdict == "pass", good.reason
    subs = good.evidence["sub_criteria"]
    assert set(subs) == set(c.SUB_CRITERIA) and good.evidence["required"] == list(CONFIG.criteria.c.required)
    assert subs["observatoire_goals"]["verdict"] == "pass" and subs["team_answering"]["weak"] is False
    assert subs["team_answering"]["help_reachable"] == 92.5
    bad = by[(2025, "bad")]
    assert bad.verdict == "fail" and "accessibility" in bad.reason and "impact statistics online" in bad.reason
    assert bad.evidence["sub_criteria"]["observatoire_goals"]["verdict"] == "not_applicable"
    limited = by[(2025, "limited")]
    assert limited.verdict == "unknown" and "rate_limited" in limited.reason
    # 2024: the checks of 2026 say nothing about it
    assert by[(2024, "good")].verdict == "unknown"
    for r in out.itertuples():
        assert r.reason.startswith(f"(c) {'fails' if r.verdict == 'fail' else r.verdict}:")


def test_without_any_quality_source_the_reason_says_so(warehouse_factory):
    warehouse = warehouse_factory([{"startup_id": "a", "repository": "https://github.com/o/a", "contact": "a@a.fr"}])
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO registry_raw (fetched_at, source_url, final_url, sha256, n_bytes, n_startups, "
            "document) VALUES ('2026-11-28 10:00:00', 'u', 'u', 's', 1, 1, NULL)"
        )
        con.execute(
            "INSERT INTO repository_activity (startup_id, year, forge, repo, repo_url, status, reason, fetched_at) "
            "VALUES ('a', 2020, 'github', 'github.com/o/a', 'https://github.com/o/a', 'disabled', 'off', '2026-11-28')"
        )
        out = c.criterion_c(con, pd.DataFrame({"year": [2020], "startup_id": ["a"]}), CONFIG)
    assert out.iloc[0]["verdict"] == "unknown"
    assert out.iloc[0]["reason"].startswith(f"(c) unknown: {CONFIG.criteria.c.no_source_reason} (")
    # It names each source that gave nothing, so a run with sources off is not read as a finding.
    assert out.iloc[0]["reason"] == (
        "(c) unknown: no quality source yet (observatoire: no data (disabled or unreachable); forges: github disabled; "
        "stats page checks: none made (disabled or no page declared); web archive: not asked (disabled or nothing "
        "declared)); no sub-criterion fails but required ones lack evidence ("
        + "; ".join(
            f"{name}: no registry document of 2020's evidence window (2020-01-01 to 2021-06-30) lists the service"
            for name in (
                "accessibility",
                "product evolving",
                "resources shared",
                "impact statistics online",
                "team answering users",
            )
        )
        + ")."
    )
