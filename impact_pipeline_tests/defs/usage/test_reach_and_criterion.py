"""The evidence ranking, period attribution and criterion (b)'s verdicts and reasons (pure rules)."""

from __future__ import annotations

from datetime import date

from impact_pipeline.defs.usage.criterion import judge
from impact_pipeline.defs.usage.reach import yearly_reach
from impact_pipeline.lib.urls import public_http_url


def obs(value, unit, start, end, source="matomo", ref="stats.example.org site 12", indicator="nb_visits", **kw):
    return {"startup_id": kw.pop("sid", "svc"), "source": source, "source_ref": ref, "indicator": indicator,
            "value": value, "unit": unit, "period_start": start, "period_end": end, "is_target": False,
            "is_stock": False, "evidence_url": kw.pop("url", "https://svc.example.org/stats"), **kw}


def year(y):
    return date(y, 1, 1), date(y, 12, 31)


def public(url):
    return public_http_url(url) is not None


def test_ranking_prefers_measured_users_over_larger_visits_and_declared():
    rows = yearly_reach([
        obs(500000, "visits", *year(2024)),
        obs(90000, "users", *year(2024), source="impact_dataset", ref="f.csv", indicator="Nombre d'utilisateurs"),
        obs(900000, "users", *year(2024), source="declared", ref="Équipe X", indicator="declared"),
    ], is_public=public)
    (row,) = rows
    assert (row["value"], row["evidence_rank"], row["source"], row["n_candidates"]) == (90000.0, "measured_users", "impact_dataset", 3)


def test_targets_and_stocks_never_count():
    rows = yearly_reach([obs(900000, "users", *year(2024), is_target=True), obs(800000, "users", None, date(2024, 12, 31), is_stock=True)])
    assert rows == []


def test_twelve_months_across_two_years_go_to_the_majority_year_unprorated():
    (row,) = yearly_reach([obs(120000, "uses", date(2023, 7, 1), date(2024, 6, 30), source="impact_dataset", ref="f.csv", indicator="Nombre de demandes")])
    assert (row["year"], row["value"], row["evidence_rank"]) == (2023, 120000.0, "measured_uses")
    assert "attributed to 2023 (184 of 366 days in 2023; not prorated)" in row["note"]
    # Longer than a year: not a yearly figure.
    assert yearly_reach([obs(5, "uses", date(2022, 1, 1), date(2024, 6, 30))]) == []


def test_monthly_uniques_sum_is_an_upper_bound_and_monthly_visits_an_exact_sum():
    months = [(date(2024, m, 1), date(2024, m + 1, 1).replace(day=1) if m < 12 else date(2025, 1, 1)) for m in range(1, 13)]
    from datetime import timedelta
    uniq = [obs(1000 * m, "visitors", s, e - timedelta(days=1), indicator="nb_uniq_visitors") for m, (s, e) in enumerate(months, 1)]
    (row,) = yearly_reach(uniq)
    assert (row["value"], row["evidence_rank"], row["upper_bound"]) == (78000.0, "monthly_uniques_upper_bound", True)
    visits = [obs(2000, "visits", s, e - timedelta(days=1)) for s, e in months]
    (row,) = yearly_reach(uniq + visits)
    assert (row["value"], row["evidence_rank"], row["upper_bound"]) == (24000.0, "measured_uses", False)
    # Eleven months do not make a year.
    assert yearly_reach(uniq[:11]) == []


def test_judge_pass_fail_and_unknown_reasons():
    reach = {"value": 250000.0, "unit": "visits", "kind": "visits", "evidence_rank": "measured_uses", "source": "matomo",
             "source_ref": "stats.example.org site 12", "evidence_url": "https://svc.example.org/stats", "upper_bound": False,
             "n_candidates": 1, "note": "nb_visits for the calendar year 2024", "period_start": date(2024, 1, 1), "period_end": date(2024, 12, 31)}
    verdict, reason, evidence = judge(2024, reach, [], 100000, "no usage source yet", public)
    assert verdict == "pass"
    assert reason == ("(b) pass: 250,000 yearly visits in 2024 (matomo stats.example.org site 12) meets the threshold of 100,000 "
                      "(evidence: https://svc.example.org/stats).")
    assert (evidence["value"], evidence["threshold"], evidence["evidence_url"], evidence["evidence_rank"], evidence["period"],
            evidence["upper_bound"]) == (250000.0, 100000, "https://svc.example.org/stats", "measured_uses", "2024-01-01/2024-12-31", False)

    verdict, reason, _ = judge(2024, {**reach, "value": 42000.0}, [], 100000, "no usage source yet", public)
    assert (verdict, reason) == ("fail", "(b) fails: 42,000 yearly visits in 2024 (matomo stats.example.org site 12) is below the threshold of 100,000.")

    verdict, reason, evidence = judge(2024, {**reach, "evidence_url": None}, [], 100000, "x", public)
    assert verdict == "unknown" and reason.endswith("meets the threshold of 100,000 but has no public evidence URL.")
    assert evidence["evidence_url"] is None

    verdict, reason, _ = judge(2024, None, [], 100000, "no usage source yet", public)
    assert (verdict, reason) == ("unknown", "(b) unknown: no usage figure for 2024 (no usage source yet).")
    down = [{"source": "matomo", "source_ref": "stats.example.org site 12", "status": "error", "error": "https://stats.example.org/index.php: connection refused"}]
    verdict, reason, _ = judge(2024, None, down, 100000, "no usage source yet", public)
    assert reason == "(b) unknown: no usage figure for 2024 (source matomo down: https://stats.example.org/index.php: connection refused)."
    quiet = [{**down[0], "status": "ok", "error": None}]
    assert judge(2023, None, quiet, 100000, "-", public)[1] == (
        "(b) unknown: no usage figure for 2023 (matomo stats.example.org site 12 has no figure covering the year).")


def test_judge_upper_bound_and_declared_wording():
    base = {"unit": "visitors", "kind": "users", "source": "metabase", "source_ref": "mb.example.org card 5f0c3b2a",
            "evidence_url": "https://mb.example.org/public/question/x", "n_candidates": 1,
            "period_start": date(2023, 1, 1), "period_end": date(2023, 12, 31)}
    ub = {**base, "value": 94200.0, "evidence_rank": "monthly_uniques_upper_bound", "upper_bound": True,
          "note": "sum of 12 monthly Utilisateurs uniques figures for 2023"}
    verdict, reason, evidence = judge(2023, ub, [], 100000, "-", public)
    assert verdict == "fail" and evidence["upper_bound"] is True
    assert reason == ("(b) fails: at most 94,200 people in 2023 (sum of 12 monthly Utilisateurs uniques figures for 2023; "
                      "metabase mb.example.org card 5f0c3b2a) is below the threshold of 100,000.")
    declared = {**base, "value": 250000.0, "unit": "users", "evidence_rank": "declared", "upper_bound": False, "source": "declared",
                "source_ref": "Équipe X", "note": "", "evidence_url": "https://svc.example.org/bilan"}
    assert judge(2023, declared, [], 100000, "-", public)[1] == (
        "(b) pass: 250,000 people in 2023 (declared by Équipe X) meets the threshold of 100,000 (evidence: https://svc.example.org/bilan).")
