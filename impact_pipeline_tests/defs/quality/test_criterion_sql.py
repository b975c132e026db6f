"""Criterion (c) as SQL: the exact reasons and evidence analysts read, and the statement's contract with the caller.

The expected texts were written from the per-row Python rules that the SQL replaced: they are the spec.
"""

from __future__ import annotations

import json

import pytest

from impact_pipeline.defs.quality import criterion as c
from impact_pipeline_tests.defs.quality.test_criterion import CONFIG, judge, world

REGISTRY_AT = "2026-02-01 10:00:00"  # early in the year: a declaration read then counts for 2025 and 2026


@pytest.fixture
def quality_world(warehouse_factory):
    startups = [
        {
            "startup_id": "good",
            "stats_url": "https://g.fr/stats",
            "repository": "https://github.com/o/good",
            "contact": "g@g.fr",
            "accessibility_status": "partiellement conforme",
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
        {
            "startup_id": "weak",
            "stats_url": "https://w.fr/stats",
            "repository": "https://gitlab.com/g/w",
            "contact": "w@w.fr",
            "accessibility_status": "totalement conforme",
        },
        {
            "startup_id": "frozen",
            "stats_url": "stats.example",
            "repository": "https://github.com/o/f",
            "contact": "f@f.fr",
            "accessibility_status": "bizarre",
        },
        {
            "startup_id": "fresh",
            "stats_url": "https://n.fr/stats",
            "repository": "https://github.com/o/n",
            "contact": "",
        },
    ]
    obs_url = "https://obs/api/procedures?editionId=e"
    observatoire = [
        {
            "startup_id": "good",
            "year": 2025,
            "edition": "E25",
            "procedure_ids": ["p1"],
            "goals_reached": 4,
            "goals_total": 5,
            "satisfaction_goal": True,
            "handicap_goal": True,
            "dlnuf_goal": True,
            "auth_goal": True,
            "simplicity_goal": False,
            "help_reachable": 92.5,
            "evidence_url": obs_url,
        },
        {
            "startup_id": "frozen",
            "year": 2025,
            "edition": "E25",
            "goals_reached": 1,
            "goals_total": 5,
            "help_reachable": 70.0,
        },
    ]
    activity = [
        {
            "startup_id": "good",
            "year": 2025,
            "repo": "github.com/o/good",
            "commits_in_year": 12,
            "last_push": None,
            "archived": None,
            "public": True,
            "fetched_at": REGISTRY_AT,
        },
        {
            "startup_id": "limited",
            "year": 2025,
            "repo": "github.com/o/l",
            "commits_in_year": None,
            "status": "rate_limited",
            "reason": "the GitHub API rate limit is exhausted",
            "public": True,
            "fetched_at": REGISTRY_AT,
        },
        {
            "startup_id": "weak",
            "year": 2026,
            "forge": "gitlab",
            "repo": "gitlab.com/g/w",
            "commits_in_year": 1,
            "commits_is_lower_bound": True,
            "public": True,
            "fetched_at": REGISTRY_AT,
        },
        {
            "startup_id": "frozen",
            "year": 2025,
            "repo": "github.com/o/f",
            "commits_in_year": 0,
            "last_push": "2023-03-04",
            "archived": True,
            "public": False,
            "fetched_at": REGISTRY_AT,
        },
        {
            "startup_id": "fresh",
            "year": 2026,
            "repo": "github.com/o/n",
            "commits_in_year": 0,
            "fetched_at": REGISTRY_AT,
        },
    ]
    checks = [
        {
            "startup_id": "good",
            "url": "https://g.fr/stats",
            "final_url": "https://g.fr/stats",
            "checked_at": REGISTRY_AT,
        },
        {
            "startup_id": "limited",
            "url": "https://l.fr/stats",
            "final_url": "https://l.fr/statistiques",
            "checked_at": REGISTRY_AT,
        },
        {"startup_id": "weak", "url": "https://w.fr/stats", "final_url": None, "checked_at": REGISTRY_AT},
        {
            "startup_id": "frozen",
            "kind": "repository",
            "url": "https://github.com/o/f",
            "ok": False,
            "status_code": 404,
            "error": "HTTP 404 Not Found",
            "checked_at": "2025-11-05",
        },
        {
            "startup_id": "fresh",
            "kind": "repository",
            "url": "https://github.com/o/n",
            "ok": False,
            "status_code": None,
            "final_url": None,
            "error": "timeout after 20 s",
            "checked_at": "2026-01-10",
        },
        {
            "startup_id": "fresh",
            "url": "https://n.fr/stats",
            "ok": False,
            "status_code": 404,
            "final_url": None,
            "error": "HTTP 404 Not Found",
            "checked_at": "2026-01-10",
        },
    ]
    return world(
        warehouse_factory,
        startups,
        registry_at=REGISTRY_AT,
        observatoire=observatoire,
        activity=activity,
        checks=checks,
    )


REASONS = {
    (2025, "good"): "(c) pass: no sub-criterion fails and every required one passes.",
    (
        2026,
        "weak",
    ): "(c) pass: no sub-criterion fails and every required one passes (team answering users on a weak signal).",
    (2025, "bad"): "(c) fails: accessibility: registry of 2026-02-01: accessibility 'non conforme'; "
    "impact statistics online: registry of 2026-02-01: no stats page declared.",
    (
        2025,
        "limited",
    ): "(c) unknown: no sub-criterion fails but required ones lack evidence (product evolving: commits in "
    "2025 on github.com/o/l unknown (rate_limited: the GitHub API rate limit is exhausted)).",
    # No registry document observed in 2024's window: nothing registry-derived is judged, not even as a failure.
    (2024, "good"): "(c) unknown: no sub-criterion fails but required ones lack evidence ("
    + "; ".join(
        f"{name}: no registry document of 2024's evidence window (2024-01-01 to 2025-06-30) lists the service"
        for name in (
            "accessibility",
            "product evolving",
            "resources shared",
            "impact statistics online",
            "team answering users",
        )
    )
    + ").",
    (
        2025,
        "frozen",
    ): "(c) fails: observatoire goals: 1 of the 5 headline goals reached in E25 (5 known), fewer than 3; "
    "product evolving: 0 commits in 2025 on github.com/o/f (last push 2023-03-04, archived); "
    "resources shared: github.com/o/f is private on github; impact statistics online: registry of "
    "2026-02-01: the declared stats page 'stats.example' is not a web address; "
    "team answering users: the observatoire measured "
    "70 % of users reaching help in E25, under 85 %.",
    (
        2026,
        "fresh",
    ): "(c) fails: accessibility: registry of 2026-02-01: no accessibility status declared; resources shared: "
    "https://github.com/o/n did not answer on 2026-01-10 (timeout after 20 s); impact statistics online: "
    "https://n.fr/stats did not answer on 2026-01-10 (HTTP 404 Not Found).",
}

SUB_REASONS = {
    (2025, "limited"): {
        "observatoire_goals": ("not_applicable", "not in the observatoire's 2025 editions"),
        "accessibility": ("pass", "registry of 2026-02-01: accessibility 'totalement conforme'"),
        "resources_shared": ("pass", "github.com/o/l is public on github (checked 2026-02-01)"),
        "impact_statistics": (
            "pass",
            "https://l.fr/stats answered HTTP 200 on 2026-02-01, ending at https://l.fr/statistiques",
        ),
        "team_answering": (
            "pass",
            "registry of 2026-02-01: a contact is declared (weak signal: no measured help reachability)",
        ),
    },
    (2026, "weak"): {
        "product_evolving": ("pass", "at least 1 commits in 2026 on gitlab.com/g/w"),
        "resources_shared": ("pass", "gitlab.com/g/w is public on gitlab (checked 2026-02-01)"),
        "impact_statistics": ("pass", "https://w.fr/stats answered HTTP 200 on 2026-02-01"),
    },
    (2025, "frozen"): {
        "accessibility": ("unknown", "registry of 2026-02-01: accessibility status 'bizarre' is not a known level")
    },
    (2026, "fresh"): {
        "product_evolving": ("unknown", "no commit yet in 2026 on github.com/o/n, a year not over"),
        "team_answering": ("unknown", "registry of 2026-02-01: no help reachability measured and no contact declared"),
    },
    (2025, "bad"): {
        "product_evolving": ("unknown", "registry of 2026-02-01: no repository declared, so no activity to read"),
        "resources_shared": (
            "unknown",
            "registry of 2026-02-01: no repository declared (open data and API declarations are not in the registry)",
        ),
    },
}


def test_reasons_are_exactly_those_of_the_rules(quality_world):
    rows = judge(quality_world, list(REASONS))
    for key, reason in REASONS.items():
        assert rows[key].reason == reason, key
        assert rows[key].verdict == reason.split(":")[0].removeprefix("(c) ").replace("fails", "fail")
    for key, expected in SUB_REASONS.items():
        for name, (verdict, reason) in expected.items():
            got = rows[key].evidence["sub_criteria"][name]
            assert (got["verdict"], got["reason"]) == (verdict, reason), (key, name)


def test_evidence_holds_every_value_read(quality_world):
    evidence = judge(quality_world, [(2025, "good")])[(2025, "good")].evidence
    obs_url = "https://obs/api/procedures?editionId=e"
    assert evidence == {
        "source": "quality",
        "sub_criteria": {
            "observatoire_goals": {
                "verdict": "pass",
                "reason": "4 of the 5 headline goals reached in E25 (5 known)",
                "weak": False,
                "edition": "E25",
                "goals_reached": 4,
                "goals_known": 5,
                "goals": {"satisfaction": True, "handicap": True, "dlnuf": True, "auth": True, "simplicity": False},
                "procedure_ids": ["p1"],
                "evidence_url": obs_url,
                "min_goals_reached": 3,
            },
            "accessibility": {
                "verdict": "pass",
                "reason": "registry of 2026-02-01: accessibility 'partiellement conforme'",
                "weak": False,
                "accessibility_status": "partiellement conforme",
                "as_of": "2026-02-01",
            },
            "product_evolving": {
                "verdict": "pass",
                "reason": "12 commits in 2025 on github.com/o/good",
                "weak": False,
                "repo": "github.com/o/good",
                "commits_in_year": 12,
                "last_push": None,
                "archived": None,
                "status": "ok",
                "api_url": None,
            },
            "resources_shared": {
                "verdict": "pass",
                "reason": "github.com/o/good is public on github (checked 2026-02-01)",
                "weak": False,
                "repository": "https://github.com/o/good",
                "repository_check": None,
                "forge_public": True,
                "capture": None,
            },
            "impact_statistics": {
                "verdict": "pass",
                "reason": "https://g.fr/stats answered HTTP 200 on 2026-02-01",
                "weak": False,
                "stats_url": "https://g.fr/stats",
                "check": {
                    "url": "https://g.fr/stats",
                    "status_code": 200,
                    "ok": True,
                    "final_url": "https://g.fr/stats",
                    "checked_at": "2026-02-01",
                    "error": None,
                },
                "capture": None,
            },
            "team_answering": {
                "verdict": "pass",
                "reason": "the observatoire measured 92.5 % of users reaching help in E25",
                "weak": False,
                "help_reachable": 92.5,
                "min_help_reachable": 85.0,
                "edition": "E25",
                "evidence_url": obs_url,
            },
        },
        "required": list(CONFIG.criteria.c.required),
        "registry_as_of": "2026-02-01",
    }
    subs = judge(quality_world, [(2025, "bad")])[(2025, "bad")].evidence["sub_criteria"]
    assert subs["impact_statistics"] == {
        "verdict": "fail",
        "reason": "registry of 2026-02-01: no stats page declared",
        "weak": False,
        "stats_url": None,
    }
    assert subs["team_answering"] == {
        "verdict": "unknown",
        "reason": "registry of 2026-02-01: no help reachability measured and no contact declared",
        "weak": True,
        "contact_declared": False,
        "as_of": "2026-02-01",
    }


def test_the_statement_gives_one_typed_row_per_key_and_the_same_bytes_twice(quality_world):
    with quality_world.connect() as con:
        con.execute(
            "CREATE TEMP TABLE keys AS SELECT * FROM (VALUES (2025, 'good'), (2024, 'good'), (2026, 'ghost')) "
            "k(year, startup_id)"
        )
        con.execute(
            "CREATE TEMP TABLE keys2 AS SELECT year::INTEGER AS year, startup_id::VARCHAR AS startup_id FROM keys"
        )
        sql = c.criterion_c_sql(con, "keys2", CONFIG)
        columns = "year, startup_id, criterion, verdict, reason, evidence::VARCHAR"
        first = con.execute(f"SELECT {columns} FROM ({sql}) ORDER BY ALL").fetchall()
        types = con.execute(f"DESCRIBE {sql}").fetchall()
        again = c.criterion_c_sql(con, "keys2", CONFIG)  # prepares again on the same connection
        second = con.execute(f"SELECT {columns} FROM ({again}) ORDER BY ALL").fetchall()
        gates = con.execute(
            f"SELECT startup_id, json_extract_string(evidence, '$.sub_criteria.*.verdict') FROM ({sql}) "
            "WHERE year = 2025"
        ).fetchall()
    assert [(t[0], t[1]) for t in types] == [
        ("year", "INTEGER"),
        ("startup_id", "VARCHAR"),
        ("criterion", "VARCHAR"),
        ("verdict", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("evidence", "JSON"),
    ]
    assert first == second and len(first) == 3
    assert {r[1] for r in first} == {"good", "ghost"} and {r[2] for r in first} == {"c"}
    ghost = next(r for r in first if r[1] == "ghost")  # in no registry document: unknown, never a failure
    assert (
        ghost[3] == "unknown" and json.loads(ghost[5])["sub_criteria"]["accessibility"]["accessibility_status"] is None
    )
    assert gates == [("good", ["pass"] * 6)]
