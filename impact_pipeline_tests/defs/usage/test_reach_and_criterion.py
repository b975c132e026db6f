"""The evidence ranking, period attribution (pure rules) and criterion (b)'s verdicts and reasons (SQL over a
real working DuckDB file)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.usage.criterion import criterion_b
from impact_pipeline.defs.usage.reach import COLUMNS, yearly_reach
from impact_pipeline.lib.urls import web_address
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
from impact_pipeline_tests.support.criteria import criteria_with

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)


def obs(value, unit, start, end, source="matomo", ref="stats.example.org site 12", indicator="nb_visits", **kw):
    return {
        "startup_id": kw.pop("sid", "svc"),
        "source": source,
        "source_ref": ref,
        "indicator": indicator,
        "value": value,
        "unit": unit,
        "period_start": start,
        "period_end": end,
        "is_target": False,
        "is_stock": False,
        "evidence_url": kw.pop("url", "https://svc.example.org/stats"),
        **kw,
    }


def year(y):
    return date(y, 1, 1), date(y, 12, 31)


def public(url):
    return web_address(url) is not None


def test_ranking_prefers_measured_users_over_larger_visits_and_declared():
    rows = yearly_reach(
        [
            obs(500000, "visits", *year(2024)),
            obs(90000, "users", *year(2024), source="impact_dataset", ref="f.csv", indicator="Nombre d'utilisateurs"),
            obs(900000, "users", *year(2024), source="declared", ref="Équipe X", indicator="declared"),
        ],
        is_public=public,
    )
    (row,) = rows
    assert (row["value"], row["evidence_rank"], row["source"], row["n_candidates"]) == (
        90000.0,
        "measured_users",
        "impact_dataset",
        3,
    )


def test_targets_and_stocks_never_count():
    rows = yearly_reach(
        [
            obs(900000, "users", *year(2024), is_target=True),
            obs(800000, "users", None, date(2024, 12, 31), is_stock=True),
        ]
    )
    assert rows == []


def test_twelve_months_across_two_years_go_to_the_majority_year_unprorated():
    (row,) = yearly_reach(
        [
            obs(
                120000,
                "uses",
                date(2023, 7, 1),
                date(2024, 6, 30),
                source="impact_dataset",
                ref="f.csv",
                indicator="Nombre de demandes",
            )
        ]
    )
    assert (row["year"], row["value"], row["evidence_rank"]) == (2023, 120000.0, "measured_uses")
    assert "attributed to 2023 (184 of 366 days in 2023; not prorated)" in row["note"]
    # Longer than a year: not a yearly figure.
    assert yearly_reach([obs(5, "uses", date(2022, 1, 1), date(2024, 6, 30))]) == []


def test_monthly_uniques_sum_is_an_upper_bound_and_monthly_visits_an_exact_sum():
    months = [
        (date(2024, m, 1), date(2024, m + 1, 1).replace(day=1) if m < 12 else date(2025, 1, 1)) for m in range(1, 13)
    ]
    from datetime import timedelta

    uniq = [
        obs(1000 * m, "visitors", s, e - timedelta(days=1), indicator="nb_uniq_visitors")
        for m, (s, e) in enumerate(months, 1)
    ]
    (row,) = yearly_reach(uniq)
    assert (row["value"], row["evidence_rank"], row["upper_bound"]) == (78000.0, "monthly_uniques_upper_bound", True)
    visits = [obs(2000, "visits", s, e - timedelta(days=1)) for s, e in months]
    (row,) = yearly_reach(uniq + visits)
    assert (row["value"], row["evidence_rank"], row["upper_bound"]) == (24000.0, "measured_uses", False)
    # Eleven months are a lower bound of the year, saying which months they cover.
    (row,) = yearly_reach(uniq[:11])
    assert (row["value"], row["lower_bound"], row["coverage"], row["last_uncovered_day"]) == (
        66000.0,
        True,
        "January–November",
        date(2024, 12, 31),
    )


@pytest.fixture
def judge_b(tmp_path):
    """Criterion (b) over a fresh working DuckDB file holding the given yearly_reach, usage_source_status and
    startup_phases rows: {(year, startup_id): row}."""
    calls = iter(range(1000))

    def judge(keys, reach=(), statuses=(), config=CONFIG, phases=()):
        root = tmp_path / f"w{next(calls)}"
        warehouse = Warehouse(
            duckdb_path=str(root / "pub" / "impact.duckdb"), export_dir=str(root / "exp"), work_dir=str(root / "work")
        )
        with warehouse.connect() as con:
            for r in reach:
                con.execute(
                    f"INSERT INTO yearly_reach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
                    [r.get(c) for c in COLUMNS],
                )
            for sid, source, ref, status, error in statuses:
                con.execute(
                    "INSERT INTO usage_source_status (startup_id, source, source_ref, status, error, n_observations, "
                    "n_rejected, fetched_at) VALUES (?, ?, ?, ?, ?, 0, 0, now())",
                    [sid, source, ref, status, error],
                )
            for i, (sid, phase, start) in enumerate(phases):  # (startup_id, phase, start_date): the first phase matters
                con.execute(
                    "INSERT INTO startup_phases (startup_id, position, phase, phase_normalized, start_date) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [sid, i, phase, phase, start],
                )
            out = criterion_b(con, pd.DataFrame(keys, columns=["year", "startup_id"]), config)
        assert len(out) == len(keys) and set(out["criterion"]) == {"b"}
        return {(r["year"], r["startup_id"]): r for r in out.to_dict("records")}

    return judge


MATOMO = {
    "startup_id": "svc",
    "year": 2024,
    "value": 250000.0,
    "unit": "visits",
    "kind": "visits",
    "evidence_rank": "measured_uses",
    "source": "matomo",
    "source_ref": "stats.example.org site 12",
    "evidence_url": "https://svc.example.org/stats",
    "upper_bound": False,
    "n_candidates": 1,
    "note": "nb_visits for the calendar year 2024",
    "period_start": date(2024, 1, 1),
    "period_end": date(2024, 12, 31),
}
DOWN = (
    "svc-down",
    "matomo",
    "stats.example.org site 12",
    "error",
    "https://stats.example.org/index.php: connection refused",
)


def test_b_pass_fail_and_unknown_reasons(judge_b):
    got = judge_b(
        [
            (2024, "svc"),
            (2024, "svc-low"),
            (2024, "svc-private"),
            (2024, "svc-none"),
            (2024, "svc-down"),
            (2023, "svc-quiet"),
        ],
        reach=[
            MATOMO,
            {**MATOMO, "startup_id": "svc-low", "value": 42000.0},
            {**MATOMO, "startup_id": "svc-private", "evidence_url": None},
        ],
        statuses=[DOWN, ("svc-quiet", "matomo", "stats.example.org site 12", "ok", None)],
    )
    passed = got[(2024, "svc")]
    assert passed["verdict"] == "pass"
    assert passed["reason"] == (
        "(b) pass: 250,000 yearly visits in 2024 (matomo stats.example.org site 12) meets the threshold "
        "of 100,000 (evidence: https://svc.example.org/stats)."
    )
    evidence = passed["evidence"]
    assert (
        evidence["value"],
        evidence["threshold"],
        evidence["evidence_url"],
        evidence["evidence_rank"],
        evidence["period"],
        evidence["upper_bound"],
    ) == (250000.0, 100000, "https://svc.example.org/stats", "measured_uses", "2024-01-01/2024-12-31", False)

    low = got[(2024, "svc-low")]
    assert (low["verdict"], low["reason"]) == (
        "fail",
        "(b) fails: 42,000 yearly visits in 2024 (matomo stats.example.org site 12) is below the threshold of 100,000.",
    )

    private = got[(2024, "svc-private")]
    assert private["verdict"] == "unknown"
    assert private["reason"].endswith("meets the threshold of 100,000 but has no public evidence URL.")
    assert private["evidence"]["evidence_url"] is None

    assert (got[(2024, "svc-none")]["verdict"], got[(2024, "svc-none")]["reason"]) == (
        "unknown",
        "(b) unknown: no usage figure for 2024 (no usage source yet).",
    )
    assert got[(2024, "svc-down")]["reason"] == (
        "(b) unknown: no usage figure for 2024 (source matomo down: https://stats.example.org/index.php: "
        "connection refused)."
    )
    assert got[(2023, "svc-quiet")]["reason"] == (
        "(b) unknown: no usage figure for 2023 (matomo stats.example.org site 12 has no figure covering the year)."
    )


def test_b_upper_bound_and_declared_wording(judge_b):
    base = {
        "year": 2023,
        "unit": "visitors",
        "kind": "users",
        "source": "metabase",
        "source_ref": "mb.example.org card 5f0c3b2a",
        "evidence_url": "https://mb.example.org/public/question/x",
        "n_candidates": 1,
        "period_start": date(2023, 1, 1),
        "period_end": date(2023, 12, 31),
    }
    ub = {
        **base,
        "startup_id": "svc-ub",
        "value": 94200.0,
        "evidence_rank": "monthly_uniques_upper_bound",
        "upper_bound": True,
        "note": "sum of 12 monthly Utilisateurs uniques figures for 2023",
    }
    declared = {
        **base,
        "startup_id": "svc-declared",
        "value": 250000.0,
        "unit": "users",
        "evidence_rank": "declared",
        "upper_bound": False,
        "source": "declared",
        "source_ref": "Équipe X",
        "note": "",
        "evidence_url": "https://svc.example.org/bilan",
    }
    got = judge_b([(2023, "svc-ub"), (2023, "svc-declared")], reach=[ub, declared])
    upper = got[(2023, "svc-ub")]
    assert upper["verdict"] == "fail" and upper["evidence"]["upper_bound"] is True
    assert upper["reason"] == (
        "(b) fails: at most 94,200 people in 2023 (sum of 12 monthly Utilisateurs uniques figures for 2023; "
        "metabase mb.example.org card 5f0c3b2a) is below the threshold of 100,000."
    )
    assert got[(2023, "svc-declared")]["reason"] == (
        "(b) pass: 250,000 people in 2023 (declared by Équipe X) meets the threshold of 100,000 (evidence: https://svc.example.org/bilan)."
    )


def test_b_reads_the_figures_yearly_reach_ranked_with_their_real_period(judge_b):
    months = [
        (date(2024, m, 1), (date(2024, m + 1, 1) if m < 12 else date(2025, 1, 1)) - timedelta(days=1))
        for m in range(1, 13)
    ]
    rows = yearly_reach(
        [
            obs(
                120000,
                "uses",
                date(2022, 7, 1),
                date(2023, 6, 30),
                source="impact_dataset",
                ref="f.csv",
                indicator="Nombre de demandes",
                url="https://www.data.gouv.fr/fr/datasets/f/",
            ),
            *[obs(9000 + m, "visitors", s, e, indicator="nb_uniq_visitors") for m, (s, e) in enumerate(months)],
        ],
        is_public=public,
    )
    got = judge_b([(2022, "svc"), (2023, "svc"), (2024, "svc")], reach=rows)
    spanning = got[(2022, "svc")]
    assert spanning["reason"] == (
        "(b) pass: 120,000 yearly uses in 2022 (impact_dataset f.csv, 12 months 2022-07-01→2023-06-30) "
        "meets the threshold of 100,000 (evidence: https://www.data.gouv.fr/fr/datasets/f/)."
    )
    assert (spanning["evidence"]["period"], spanning["evidence"]["n_candidates"]) == ("2022-07-01/2023-06-30", 1)
    assert "attributed to 2022 (184 of 365 days in 2022; not prorated)" in spanning["evidence"]["note"]
    assert got[(2023, "svc")]["reason"] == "(b) unknown: no usage figure for 2023 (no usage source yet)."
    monthly = got[(2024, "svc")]
    assert monthly["verdict"] == "pass" and monthly["evidence"]["upper_bound"] is True
    assert monthly["reason"].startswith(
        "(b) pass: at most 108,066 people in 2024 (sum of 12 monthly nb_uniq_visitors figures for 2024, "
        "an upper bound: a person returning in several periods is counted each time; "
        "matomo stats.example.org site 12) meets"
    )


def test_b_without_a_figure_names_the_sources_sorted_and_the_ones_down(judge_b):
    statuses = [
        ("svc-quiet", "matomo", "zz site 1", "empty", None),
        ("svc-quiet", "declared", "Équipe Q", "ok", None),
        ("svc-quiet", "impact_dataset", "f.csv", "ok", None),
        ("svc-down", "metabase", "mb card 1", "error", "HTTP 500"),
        ("svc-down", "matomo", "m site 9", "error", "timeout after 120 s"),
        ("svc-down", "declared", "Équipe D", "ok", None),
        (None, "impact_dataset", "orphan.csv", "error", "matches no service"),
    ]
    got = judge_b([(2021, "svc-quiet"), (2022, "svc-down"), (2022, "svc-none")], statuses=statuses)
    quiet = got[(2021, "svc-quiet")]
    assert quiet["reason"] == (
        "(b) unknown: no usage figure for 2021 (declared by Équipe Q, impact_dataset f.csv, matomo zz site 1 "
        "have no figure covering the year)."
    )
    assert quiet["evidence"]["note"] == quiet["reason"][len("(b) unknown: no usage figure for 2021 (") : -2]
    assert [s["source"] for s in quiet["evidence"]["sources"]] == ["declared", "impact_dataset", "matomo"]
    assert (quiet["evidence"]["year"], quiet["evidence"]["value"], quiet["evidence"]["threshold"]) == (
        2021,
        None,
        100000,
    )
    down = got[(2022, "svc-down")]
    assert down["reason"] == (
        "(b) unknown: no usage figure for 2022 (source matomo down: timeout after 120 s; "
        "source metabase down: HTTP 500)."
    )
    assert down["evidence"]["sources"][1] == {
        "source": "matomo",
        "source_ref": "m site 9",
        "status": "error",
        "error": "timeout after 120 s",
    }
    # A discovered file matching no service is nobody's source.
    assert got[(2022, "svc-none")]["evidence"]["sources"] == []
    assert got[(2022, "svc-none")]["reason"] == "(b) unknown: no usage figure for 2022 (no usage source yet)."


def test_b_never_passes_without_a_public_http_evidence_url(judge_b):
    urls = [
        None,
        "ftp://svc.example.org/stats.csv",
        "javascript:alert(1)",
        "/srv/stats.csv",
        "https://svc.example.org/a b",
        "file:///etc/passwd",
        "https://svc.example.org/stats",
    ]
    got = judge_b(
        [(2024, f"svc{i}") for i in range(len(urls))],
        reach=[{**MATOMO, "startup_id": f"svc{i}", "evidence_url": url} for i, url in enumerate(urls)],
    )
    rows = [got[(2024, f"svc{i}")] for i in range(len(urls))]
    assert [r["verdict"] for r in rows] == ["unknown"] * 6 + ["pass"]
    assert [r["evidence"]["evidence_url"] for r in rows] == [None] * 6 + ["https://svc.example.org/stats"]
    assert all("(evidence:" not in r["reason"] for r in rows[:6])


def test_b_numbers_read_like_the_rest_of_the_reasons(judge_b):
    reach = [
        {**MATOMO, "startup_id": "frac", "value": 1234.5},
        {**MATOMO, "startup_id": "almost", "value": 99999.95},
        {**MATOMO, "startup_id": "exact", "value": 100000.0},
        {**MATOMO, "startup_id": "big", "value": 1.5e9},
    ]
    got = judge_b([(2024, s) for s in ("frac", "almost", "exact", "big")], reach=reach)
    assert got[(2024, "frac")]["reason"].startswith("(b) fails: 1,234.5 yearly visits in 2024")
    assert got[(2024, "almost")]["reason"].startswith("(b) fails: 99,999.9 yearly visits in 2024")
    assert got[(2024, "exact")]["verdict"] == "pass"  # the threshold itself is enough
    assert got[(2024, "big")]["reason"].startswith("(b) pass: 1,500,000,000 yearly visits in 2024")
    config = criteria_with(
        {"criteria": {"b": {"min_yearly_reach": 1234.5, "no_source_reason": "l'équipe n'a pas de source"}}}
    )
    got = judge_b([(2024, "frac"), (2024, "none")], reach=reach[:1], config=config)
    assert got[(2024, "frac")]["reason"].endswith(
        "meets the threshold of 1,234.5 (evidence: https://svc.example.org/stats)."
    )
    assert got[(2024, "none")]["reason"] == "(b) unknown: no usage figure for 2024 (l'équipe n'a pas de source)."
    assert got[(2024, "none")]["evidence"]["threshold"] == 1234.5
