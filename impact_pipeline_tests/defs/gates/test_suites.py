"""The expectation suites on small hand-written tables: each protection fails when its rule is broken."""

from __future__ import annotations

import json

import duckdb
import pytest

from impact_pipeline import contract
from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.gates import suites as S
from impact_pipeline.defs.gates.specs import WARN, Suite, contract_suite, non_negative
from impact_pipeline.defs.gates.validate import run_suite, write_result
from impact_pipeline.lib.warehouse import ensure_tables
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)
GOOD_B = {"value": 250000, "threshold": 100000, "evidence_url": "https://stats.exemple.test/2024", "source": "declared"}


@pytest.fixture
def con():
    connection = duckdb.connect()  # in memory: the rules are SQL + GX, the file layer is tested elsewhere
    ensure_tables(connection)
    yield connection
    connection.close()


def suite(table: str, name: str) -> Suite:
    return next(s for s in S.ALL_SUITES if s.table == table and s.name == name)


def add_impact(
    con,
    startup_id="svc",
    year=2024,
    a="pass",
    b="pass",
    c="pass",
    phase="acceleration",
    evidence_b=None,
    evidence_c=None,
    meets=None,
    with_evaluation=True,
):
    """One national_impact row (and its three criteria_evaluation rows), consistent unless told otherwise."""
    evidence = {
        "a": {"phase_at_year_end": phase},
        "b": GOOD_B if evidence_b is None else evidence_b,
        "c": {} if evidence_c is None else evidence_c,
    }
    meets = (a == b == c == "pass") if meets is None else meets
    con.execute(
        "INSERT INTO national_impact VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE, NULL, '', ?, 'v1')",
        [year, startup_id, startup_id.upper(), phase, a, b, c, meets, json.dumps(evidence)],
    )
    if with_evaluation:
        for criterion, verdict in zip("abc", (a, b, c), strict=True):
            con.execute(
                "INSERT INTO criteria_evaluation VALUES (?, ?, ?, ?, 'reason', ?, 'v1')",
                [year, startup_id, criterion, verdict, json.dumps(evidence[criterion])],
            )


def failing_labels(outcome) -> list[str]:
    return [f.spec.label for f in outcome.failures]


def test_consistent_evaluation_passes_every_criterion_gate(con):
    add_impact(con, "ok-all", b="pass", evidence_c={"sub_criteria": {"support": "pass", "stats_page": "unknown"}})
    add_impact(con, "no-usage", b="unknown", evidence_b={"source": None}, meets=False)
    for name in ("criterion_a_evidence", "criterion_b_evidence", "criterion_c_evidence", "verdicts"):
        outcome = run_suite(con, suite("national_impact", name), CONFIG)
        assert outcome.passed and not outcome.failures, outcome.summary()
    assert run_suite(con, suite("criteria_evaluation", "contract"), CONFIG).passed


def test_a_pass_without_a_qualifying_phase_is_caught(con):
    add_impact(con, "fine")
    add_impact(con, "bad-a", phase="construction")
    outcome = run_suite(con, suite("national_impact", "criterion_a_evidence"), CONFIG)
    assert not outcome.passed
    [failure] = outcome.blocking_failures
    assert failure.unexpected_count == 1
    assert failure.rows[0]["startup_id"] == "bad-a" and failure.rows[0]["phase_at_year_end"] == "construction"
    assert "bad-a" in outcome.markdown() and "construction" in outcome.summary()
    # the long table is checked too
    assert not run_suite(con, suite("criteria_evaluation", "contract"), CONFIG).passed


@pytest.mark.parametrize(
    "evidence_b, broken",
    [
        ({"value": 99999, "evidence_url": "https://stats.exemple.test"}, "reach"),
        ({"value": "beaucoup", "evidence_url": "https://stats.exemple.test"}, "reach"),
        ({"evidence_url": "https://stats.exemple.test"}, "reach"),
        ({"value": 500000}, "public evidence URL"),
        ({"value": 500000, "evidence_url": "javascript:alert(1)"}, "public evidence URL"),
        ({"value": 500000, "evidence_url": "file:///etc/passwd"}, "public evidence URL"),
        ({"value": 500000, "evidence_url": "http://127.0.0.1:8080/stats"}, "public evidence URL"),
        ({"value": 500000, "evidence_url": "http://192.168.1.10/stats"}, "public evidence URL"),
    ],
    ids=[
        "below-threshold",
        "not-a-number",
        "no-value",
        "no-url",
        "javascript-url",
        "file-url",
        "loopback-url",
        "private-url",
    ],
)
def test_b_pass_needs_reach_and_public_evidence_url(con, evidence_b, broken):
    add_impact(con, "bad-b", evidence_b=evidence_b)
    outcome = run_suite(con, suite("national_impact", "criterion_b_evidence"), CONFIG)
    assert not outcome.passed
    assert [broken in label for label in failing_labels(outcome)] == [True], failing_labels(outcome)
    assert not run_suite(con, suite("criteria_evaluation", "contract"), CONFIG).passed


def test_b_threshold_comes_from_the_criteria_config(con, tmp_path):
    add_impact(con, "mid-b", evidence_b={"value": 150000, "evidence_url": "https://stats.exemple.test"})
    assert run_suite(con, suite("national_impact", "criterion_b_evidence"), CONFIG).passed
    stricter = tmp_path / "criteria.yaml"
    stricter.write_text(
        DEFAULT_CRITERIA_PATH.read_text().replace("min_yearly_reach: 100000", "min_yearly_reach: 200000")
    )
    assert not run_suite(con, suite("national_impact", "criterion_b_evidence"), load_criteria(stricter)).passed


@pytest.mark.parametrize(
    "sub_criteria, ok",
    [
        (None, True),
        ({"support": "pass", "repository": "unknown"}, True),
        ({"support": "pass", "repository": "fail"}, False),
        ({"support": {"verdict": "fail", "value": 0.4}}, False),
    ],
    ids=["absent", "no-fail", "one-fail", "nested-verdict-fail"],
)
def test_c_pass_needs_no_failing_sub_criterion(con, sub_criteria, ok):
    add_impact(con, "svc-c", evidence_c={} if sub_criteria is None else {"sub_criteria": sub_criteria})
    assert run_suite(con, suite("national_impact", "criterion_c_evidence"), CONFIG).passed is ok
    assert run_suite(con, suite("criteria_evaluation", "contract"), CONFIG).passed is ok


def test_meets_criteria_is_exactly_all_three_pass(con):
    add_impact(con, "liar", b="unknown", evidence_b={}, meets=True)
    outcome = run_suite(con, suite("national_impact", "verdicts"), CONFIG)
    assert failing_labels(outcome) == ["meets_criteria is exactly 'the three criteria pass'"]


def test_one_row_per_year_and_service_and_verdicts_match_the_evaluation(con):
    add_impact(con, "twice")
    add_impact(con, "twice", with_evaluation=False)
    add_impact(con, "drifted", with_evaluation=False, b="fail", evidence_b={}, meets=False)
    con.execute(
        "INSERT INTO criteria_evaluation VALUES (2024, 'drifted', 'a', 'pass', '', '{}', 'v1'), "
        "(2024, 'drifted', 'b', 'pass', '', '{}', 'v1'), (2024, 'drifted', 'c', 'pass', '', '{}', 'v1')"
    )
    outcome = run_suite(con, suite("national_impact", "verdicts"), CONFIG)
    labels = failing_labels(outcome)
    assert "one row per (year, startup_id)" in labels
    assert "verdicts are those of criteria_evaluation" in labels
    dup = next(f for f in outcome.failures if f.spec.label == "one row per (year, startup_id)")
    assert {r["startup_id"] for r in dup.rows} == {"twice"}


def test_summary_must_agree_with_the_table(con):
    add_impact(con, "one", year=2023)
    add_impact(con, "one", year=2024)
    add_impact(con, "two", year=2024, b="fail", evidence_b={}, meets=False)
    # consistent: 2023 → 1 evaluated, 1 meeting (first); 2024 → 2 evaluated, 1 meeting (not first)
    con.execute(
        "INSERT INTO national_impact_summary VALUES (2023, 1, 1, 1, 0, 0, 0, 1, 'v1'), (2024, 2, 1, "
        "0, 0, 0, 0, 1, 'v1')"
    )
    assert run_suite(con, suite("national_impact_summary", "agrees_with_table"), CONFIG).passed
    con.execute("UPDATE national_impact_summary SET n_first_meeting = 1 WHERE year = 2024")
    con.execute("DELETE FROM national_impact_summary WHERE year = 2023")
    outcome = run_suite(con, suite("national_impact_summary", "agrees_with_table"), CONFIG)
    labels = failing_labels(outcome)
    assert "every year of national_impact has a summary row" in labels
    assert "n_first_meeting agrees with national_impact" in labels
    first = next(f for f in outcome.failures if f.spec.label == "n_first_meeting agrees with national_impact")
    assert {"year": 2024, "n_first_meeting": 1, "table_n_first_meeting": 0} in first.rows


def test_a_summary_year_without_rows_must_count_zeros(con):
    """Issue 17, item 12: a year in which no service is evaluated is a summary row of zeros, not a gate failure."""
    add_impact(con, "one", year=2024)
    con.execute(
        "INSERT INTO national_impact_summary VALUES (2023, 0, 0, 0, 0, 0, 0, 0, ''), (2024, 1, 1, 1, 0, 0, 0, 1, 'v1')"
    )
    assert run_suite(con, suite("national_impact_summary", "agrees_with_table"), CONFIG).passed
    con.execute("UPDATE national_impact_summary SET n_evaluated = 3, n_meeting_criteria = 1 WHERE year = 2023")
    labels = failing_labels(run_suite(con, suite("national_impact_summary", "agrees_with_table"), CONFIG))
    assert {
        "every summary year has rows in national_impact, or evaluates no service",
        "n_evaluated agrees with national_impact",
        "n_meeting_criteria agrees with national_impact",
    } <= set(labels)


def test_registry_contract_blocks_duplicates_and_missing_keys(con):
    con.execute("INSERT INTO startups (startup_id, name) VALUES ('a', 'A'), ('a', 'A bis'), (NULL, 'nameless')")
    outcome = run_suite(con, suite("startups", "contract"), CONFIG)
    assert set(failing_labels(outcome)) == {"startup_id is unique", "startup_id is present"}
    assert not outcome.passed


def test_registry_content_problems_are_warnings_with_the_list(con):
    con.execute("INSERT INTO incubators (incubator_id, title) VALUES ('inc-1', 'Incubateur')")
    con.execute(
        "INSERT INTO startups (startup_id, name, incubator_id) VALUES ('a', 'A', 'inc-1'), ('b', 'B', 'inc-404')"
    )
    con.execute(
        "INSERT INTO startup_phases VALUES ('a', 0, 'pilote', NULL, '2020-01-01', NULL), "
        "('a', 1, 'construction', 'construction', '2021-05-01', '2021-01-01')"
    )
    startups = run_suite(con, suite("startups", "contract"), CONFIG)
    assert startups.passed and [f.rows for f in startups.warnings] == [[{"startup_id": "b", "incubator_id": "inc-404"}]]
    phases = run_suite(con, suite("startup_phases", "contract"), CONFIG)
    assert phases.passed and failing_labels(phases) == ["start_date <= end_date when both exist"]
    known = run_suite(con, suite("startup_phases", "known_phases"), CONFIG)
    assert known.passed and known.warnings[0].rows[0]["phase"] == "pilote"
    # a normalisation outside the 2026 vocabulary would be a pipeline bug: blocking
    con.execute("INSERT INTO startup_phases VALUES ('a', 2, 'success', 'succes', '2022-01-01', NULL)")
    assert not run_suite(con, suite("startup_phases", "contract"), CONFIG).passed


def test_results_are_kept_as_gx_json(con, tmp_path):
    add_impact(con, "bad-a", phase="construction")
    outcome = run_suite(con, suite("national_impact", "criterion_a_evidence"), CONFIG)
    path = write_result(outcome, tmp_path / "validations", "run-1")
    document = json.loads(path.read_text())
    assert path.name == "national_impact.criterion_a_evidence.json"
    assert document["success"] is False and document["statistics"]["unsuccessful_expectations"] == 1
    assert document["meta"]["impact_pipeline"] == {
        **document["meta"]["impact_pipeline"],
        "run_id": "run-1",
        "passed": False,
    }
    assert [p.name for p in (tmp_path / "validations").iterdir()] == [path.name]  # no temp file left


def test_another_domain_registers_a_suite_in_a_few_lines(con):
    """How usage/quality register theirs: contract_suite(table, extra specs) → build_asset_checks."""
    import dagster as dg

    from impact_pipeline.defs.gates.asset_checks import build_asset_checks

    table = contract.Table(
        "usage_demo",
        "demo",
        (contract.Column("startup_id", "VARCHAR", "", True), contract.Column("value", "DOUBLE", "")),
        key=("startup_id",),
    )
    con.execute(table.ddl())
    con.execute("INSERT INTO usage_demo VALUES ('a', 10), ('b', -3)")
    demo = contract_suite(table, [non_negative("value", severity=WARN)])
    outcome = run_suite(con, demo, CONFIG)
    assert outcome.passed and outcome.warnings[0].rows == [{"startup_id": "b", "value": -3.0}]
    [check] = build_asset_checks([demo])
    assert isinstance(check, dg.AssetChecksDefinition)
    spec = next(iter(check.check_specs))
    assert spec.blocking and spec.asset_key == dg.AssetKey("usage_demo") and spec.name == "contract"


def test_a_suite_of_warnings_only_is_shown_as_non_blocking_in_the_ui():
    """The UI labels a check blocking or not: `startup_phases:known_phases` is a warning, as the README says."""
    from impact_pipeline.defs.gates.asset_checks import build_asset_checks

    known = next(s for s in S.ALL_SUITES if s.gate_name == "startup_phases:known_phases")
    contract_phases = next(s for s in S.ALL_SUITES if s.gate_name == "startup_phases:contract")
    by_name = {
        spec.name: spec.blocking for check in build_asset_checks([known, contract_phases]) for spec in check.check_specs
    }
    assert by_name == {"known_phases": False, "contract": True}


def test_offending_rows_show_the_evidence_fields_the_rules_read(con):
    """The (b) and (c) gates show reach, evidence URL and sub-criteria beside a broken pass, computed on those rows."""
    add_impact(con, "ok-svc")
    add_impact(con, "bad-b", evidence_b={"value": 99999, "evidence_url": "https://stats.exemple.test/b"})
    add_impact(con, "bad-c", evidence_c={"sub_criteria": {"support": "fail"}})
    b = run_suite(con, suite("national_impact", "criterion_b_evidence"), CONFIG)
    [reach] = [f for f in b.failures if "reach" in f.spec.label]
    assert [(r["startup_id"], r["reach"]) for r in reach.rows] == [("bad-b", "99999")]
    c = run_suite(con, suite("national_impact", "criterion_c_evidence"), CONFIG)
    [failure] = c.failures
    assert [r["startup_id"] for r in failure.rows] == ["bad-c"]
    assert json.loads(failure.rows[0]["sub_criteria"]) == {"support": "fail"}
    # The frame holds the shown fields on the offending rows only.
    s = suite("national_impact", "criterion_c_evidence")
    specs = s.resolve(CONFIG)
    shown = dict(con.execute(f"SELECT startup_id, sub_criteria FROM ({s.query(specs)})").fetchall())
    assert shown["ok-svc"] is None and shown["bad-b"] is None and json.loads(shown["bad-c"]) == {"support": "fail"}
