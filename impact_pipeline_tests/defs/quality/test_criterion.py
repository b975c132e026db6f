"""Criterion (c): each sub-criterion's rule, how they combine, and the criterion over real DuckDB tables."""

from __future__ import annotations

import pandas as pd
import pytest

from impact_pipeline.defs.impact.criteria_config import load_criteria
from impact_pipeline.defs.quality import criterion as c
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)
RULES = c.rules_from(CONFIG.raw)
SUB = RULES["sub_criteria"]
WINDOW = c.Window(RULES)


def test_checks_count_for_their_year_and_early_next_year_only():
    assert WINDOW.valid(2026, "2026-11-28") and WINDOW.valid(2025, "2026-03-02")
    assert not WINDOW.valid(2025, "2026-07-01") and not WINDOW.valid(2024, "2026-03-02") and not WINDOW.valid(2027, "2026-03-02")
    assert c.Window({"current_checks": {"valid_into_next_year_months": 6, "apply_to_past_years": True}}).valid(2019, "2026-11-28")


def test_observatoire_goals():
    obs = {"edition": "E", "goals_reached": 3, "goals_total": 4, "procedure_ids": ["p"], "evidence_url": "u",
           **{f"{g}_goal": None for g in c.HEADLINE}}
    assert c.observatoire_goals(2025, obs, True, SUB["observatoire_goals"])["verdict"] == "pass"
    assert c.observatoire_goals(2025, {**obs, "goals_reached": 0, "goals_total": 5}, True, SUB["observatoire_goals"])["verdict"] == "fail"
    assert c.observatoire_goals(2025, {**obs, "goals_reached": 1, "goals_total": 2}, True, SUB["observatoire_goals"])["verdict"] == "unknown"
    assert c.observatoire_goals(2025, None, True, SUB["observatoire_goals"])["verdict"] == "not_applicable"
    assert c.observatoire_goals(2025, None, False, SUB["observatoire_goals"])["verdict"] == "unknown"


@pytest.mark.parametrize("status, verdict", [("totalement conforme", "pass"), ("partiellement conforme", "pass"),
                                             ("non conforme", "fail"), (None, "fail"), ("", "fail"), ("bizarre", "unknown")])
def test_accessibility(status, verdict):
    assert c.accessibility(2026, {"accessibility_status": status}, "2026-11-28", WINDOW, SUB["accessibility"])["verdict"] == verdict
    assert c.accessibility(2024, {"accessibility_status": status}, "2026-11-28", WINDOW, SUB["accessibility"])["verdict"] == "unknown"


def _activity(**kw):
    return {"repo": "github.com/o/r", "commits_in_year": 3, "last_push": "2025-05-01", "archived": False, "status": "ok",
            "fetched_at": "2026-11-28", "reason": None, **kw}


def test_product_evolving():
    s = {"repository": "https://github.com/o/r"}
    rule = SUB["product_evolving"]
    assert c.product_evolving(2025, s, _activity(), rule)["verdict"] == "pass"
    assert c.product_evolving(2025, s, _activity(commits_in_year=0), rule)["verdict"] == "fail"
    assert c.product_evolving(2026, s, _activity(commits_in_year=0), rule)["verdict"] == "unknown"  # year not over
    assert c.product_evolving(2026, s, _activity(commits_in_year=0, archived=True), rule)["verdict"] == "fail"
    limited = c.product_evolving(2025, s, _activity(commits_in_year=None, status="rate_limited", reason="limit"), rule)
    assert limited["verdict"] == "unknown" and "rate_limited" in limited["reason"]
    assert c.product_evolving(2025, {"repository": None}, None, rule)["verdict"] == "unknown"


def test_resources_shared_and_impact_statistics():
    s = {"repository": "https://github.com/o/r", "stats_url": "https://x.fr/stats"}
    check = {"url": "https://x.fr/stats", "status_code": 200, "ok": True, "final_url": "https://x.fr/s", "checked_at": "2026-03-02", "error": None}
    bad = {**check, "ok": False, "status_code": 404, "error": "HTTP 404 Not Found"}
    forge = {"repo": "github.com/o/r", "forge": "github", "public": True, "status": "ok", "fetched_at": "2026-11-28"}
    rule = SUB["resources_shared"]
    assert c.resources_shared(2026, s, forge, [], WINDOW, rule)["verdict"] == "pass"
    assert c.resources_shared(2026, s, {**forge, "public": False}, [], WINDOW, rule)["verdict"] == "fail"
    assert c.resources_shared(2025, s, forge, [check], WINDOW, rule)["verdict"] == "pass"  # the March check counts for 2025
    assert c.resources_shared(2024, s, forge, [check], WINDOW, rule)["verdict"] == "unknown"
    assert c.resources_shared(2026, {"repository": "git@github.com:o/r"}, None, [], WINDOW, rule, "2026-11-28")["verdict"] == "fail"
    # a registry declaration read today says nothing about 2023
    assert c.resources_shared(2023, {"repository": "git@github.com:o/r"}, None, [], WINDOW, rule, "2026-11-28")["verdict"] == "unknown"
    assert c.impact_statistics(2023, {"stats_url": "stats.fr"}, "2026-11-28", [], WINDOW, SUB["impact_statistics"])["verdict"] == "unknown"
    assert c.resources_shared(2026, {"repository": None}, None, [], WINDOW, rule)["verdict"] == "unknown"
    rule = SUB["impact_statistics"]
    assert c.impact_statistics(2026, s, "2026-11-28", [check], WINDOW, rule)["verdict"] == "pass"
    failed = c.impact_statistics(2026, s, "2026-11-28", [bad], WINDOW, rule)
    assert failed["verdict"] == "fail" and "HTTP 404" in failed["reason"]
    assert c.impact_statistics(2026, {"stats_url": None}, "2026-11-28", [], WINDOW, rule)["verdict"] == "fail"
    assert c.impact_statistics(2023, {"stats_url": None}, "2026-11-28", [], WINDOW, rule)["verdict"] == "unknown"
    assert c.impact_statistics(2026, s, "2026-11-28", [], WINDOW, rule)["verdict"] == "unknown"  # checks disabled


def test_team_answering_prefers_the_measure_and_labels_weak_signals():
    rule = SUB["team_answering"]
    measured = c.team_answering(2025, {"contact": "a@b.fr"}, {"help_reachable": 90.0, "edition": "E"}, "2026-11-28", WINDOW, rule)
    assert measured["verdict"] == "pass" and not measured["weak"]
    low = c.team_answering(2025, {"contact": "a@b.fr"}, {"help_reachable": 70.0, "edition": "E"}, "2026-11-28", WINDOW, rule)
    assert low["verdict"] == "fail"
    weak = c.team_answering(2026, {"contact": "a@b.fr"}, None, "2026-11-28", WINDOW, rule)
    assert weak["verdict"] == "pass" and weak["weak"] and "weak signal" in weak["reason"]
    assert c.team_answering(2026, {"contact": ""}, None, "2026-11-28", WINDOW, rule)["verdict"] == "unknown"


def test_combination_and_reasons():
    def subs(**verdicts):
        return {n: {"verdict": verdicts.get(n, "pass"), "reason": f"{n} reason", "weak": False} for n in c.SUB_CRITERIA}
    verdict, reason = c.combine(subs(observatoire_goals="not_applicable"), RULES["required"])
    assert verdict == "pass" and reason.startswith("(c) pass:")
    verdict, reason = c.combine(subs(accessibility="fail", impact_statistics="fail", team_answering="unknown"), RULES["required"])
    assert verdict == "fail" and reason.startswith("(c) fails:")
    assert "accessibility: accessibility reason" in reason and "impact statistics online: impact_statistics reason" in reason
    verdict, reason = c.combine(subs(product_evolving="unknown", observatoire_goals="unknown"), RULES["required"])
    assert verdict == "unknown" and reason.startswith("(c) unknown:") and "product evolving" in reason
    assert "observatoire goals" not in reason  # not required
    assert reason.count(". ") == 0 and reason.endswith(".")  # one sentence


def test_unknown_required_name_is_a_config_error():
    with pytest.raises(ValueError, match="unknown sub-criteria"):
        c.rules_from({"criteria": {"c": {"required": ["stats"]}}})


def test_criterion_over_the_quality_tables(warehouse_factory):
    warehouse = warehouse_factory([
        {"startup_id": "good", "stats_url": "https://g.fr/stats", "repository": "https://github.com/o/good",
         "contact": "g@g.fr", "accessibility_status": "partiellement conforme", "link": "https://g.fr"},
        {"startup_id": "bad", "stats_url": None, "repository": None, "contact": "", "accessibility_status": "non conforme"},
        {"startup_id": "limited", "stats_url": "https://l.fr/stats", "repository": "https://github.com/o/l",
         "contact": "l@l.fr", "accessibility_status": "totalement conforme"},
    ])
    with warehouse.connect() as con:
        con.execute("INSERT INTO registry_raw VALUES ('2026-02-01 10:00:00', 'u', 'u', 's', 1, 3, NULL)")
        con.execute("""INSERT INTO startup_observatoire (startup_id, year, edition, edition_id, procedure_ids, n_procedures,
                       goals_reached, goals_total, help_reachable, evidence_url)
                       VALUES ('good', 2025, 'E25', 'e', ['p1'], 1, 4, 5, 92.5, 'https://obs/api/procedures?editionId=e')""")
        con.execute("INSERT INTO observatoire_procedures (edition_id, edition, procedure_id, indicator) VALUES ('e', 'E25', 'p1', 'online')")
        for sid, repo, commits, status in [("good", "github.com/o/good", 12, "ok"), ("limited", "github.com/o/l", None, "rate_limited")]:
            con.execute("""INSERT INTO repository_activity (startup_id, year, forge, repo, repo_url, commits_in_year, public, status,
                           reason, fetched_at) VALUES (?, 2025, 'github', ?, ?, ?, true, ?, 'the GitHub API rate limit is exhausted',
                           '2026-02-01 10:00:00')""", [sid, repo, "https://" + repo, commits, status])
        for sid, kind, url in [("good", "stats_url", "https://g.fr/stats"), ("limited", "stats_url", "https://l.fr/stats")]:
            con.execute("INSERT INTO stats_page_checks (startup_id, kind, url, status_code, ok, final_url, checked_at) "
                        "VALUES (?, ?, ?, 200, true, ?, '2026-02-01 10:00:00')", [sid, kind, url, url])
        keys = pd.DataFrame({"year": [2025, 2025, 2025, 2024], "startup_id": ["good", "bad", "limited", "good"]})
        out = c.criterion_c(con, keys, CONFIG)
    by = {(r.year, r.startup_id): r for r in out.itertuples()}
    good = by[(2025, "good")]
    assert good.verdict == "pass", good.reason
    subs = good.evidence["sub_criteria"]
    assert set(subs) == set(c.SUB_CRITERIA) and good.evidence["required"] == RULES["required"]
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
        con.execute("INSERT INTO registry_raw VALUES ('2026-11-28 10:00:00', 'u', 'u', 's', 1, 1, NULL)")
        con.execute("INSERT INTO repository_activity (startup_id, year, forge, repo, repo_url, status, reason, fetched_at) "
                    "VALUES ('a', 2020, 'github', 'github.com/o/a', 'https://github.com/o/a', 'disabled', 'off', '2026-11-28')")
        out = c.criterion_c(con, pd.DataFrame({"year": [2020], "startup_id": ["a"]}), CONFIG)
    assert out.iloc[0]["verdict"] == "unknown"
    assert out.iloc[0]["reason"].startswith(f"(c) unknown: {CONFIG.no_quality_reason}; ")
