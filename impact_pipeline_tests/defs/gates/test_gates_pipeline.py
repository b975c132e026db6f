"""The gates inside real runs: they run in a year-range run, validate every year, and block publication."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb

from impact_pipeline.definitions import build_definitions
from impact_pipeline.defs.gates.suites import ALL_SUITES
from impact_pipeline_tests.support.pipeline import digest, failure_text, run_years


def check_evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data
    return out


def test_failing_gate_blocks_publication_names_the_rows_and_keeps_the_results(
    tmp_path, sample_registry, sample_every_year
):
    # A good year-range run, 2016-2026 (shared with other modules: conftest), copied here to be broken below.
    paths = sample_every_year.copy_to(tmp_path / "run")
    settings = paths.settings(sample_registry.url("/startups.json"))
    good = sample_every_year.result
    assert good.success, failure_text(good)

    # Every gate ran once in the year-range run; only the unknown phase of the sample world warns.
    evaluations = check_evaluations(good)
    ours = {s.gate_name for s in ALL_SUITES}  # other domains register theirs too
    assert set(evaluations) >= ours
    assert {k for k, e in evaluations.items() if not e.passed and k in ours} == {"startup_phases:known_phases"}
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations.values() if not e.passed)
    warning = evaluations["startup_phases:known_phases"]
    assert warning.severity == dg.AssetCheckSeverity.WARN and "pilote" in warning.description
    published_validation = json.loads(
        (paths.export_dir / "validations" / "national_impact.criterion_b_evidence.json").read_text()
    )
    assert published_validation["success"] is True
    before = digest(paths)

    # A (b) pass without evidence slips into 2017 of the working file; the next run only evaluates 2025.
    con = duckdb.connect(str(paths.work_dir / "impact.duckdb"))
    sid = con.execute(
        "SELECT startup_id FROM national_impact WHERE year = 2017 AND criterion_a = 'pass' ORDER BY 1 LIMIT 1"
    ).fetchall()[0][0]
    con.execute("UPDATE national_impact SET criterion_b = 'pass' WHERE year = 2017 AND startup_id = ?", [sid])
    con.close()

    bad = run_years(settings, 2025, 2025)
    assert not bad.success
    assert "national_impact: " in failure_text(bad) and "criterion_b_evidence" in failure_text(bad)
    gate = check_evaluations(bad)["national_impact:criterion_b_evidence"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    # The changed table is validated again; a table the run rewrote with the same rows reuses its clean result.
    assert gate.metadata["validation"].value == "run with Great Expectations"
    unchanged = check_evaluations(bad)["startups:contract"]
    assert unchanged.passed and unchanged.metadata["validation"].value.startswith(
        "reused: the validated rows are unchanged"
    )
    assert "reach" in gate.description and "public evidence URL" in gate.description and sid in gate.description
    table = gate.metadata["failing_expectations"].value
    assert f"| 2017 | {sid} |" in table
    kept = Path(gate.metadata["validation_result"].value)
    assert kept.parent == paths.work_dir / "validations" and json.loads(kept.read_text())["success"] is False
    materialized = {
        e.asset_key.to_user_string() for e in bad.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert "published_outputs" not in materialized
    assert digest(paths) == before  # published DuckDB, CSVs and published validations byte-identical

    # A later run that only publishes is refused by the recorded gate.
    job = build_definitions(settings).resolve_job_def("impact_job")
    publish_only = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey("published_outputs")],
        raise_on_error=False,
    )
    assert not publish_only.success
    assert "blocking gates fail" in failure_text(publish_only) and "criterion_b_evidence" in failure_text(publish_only)
    assert digest(paths) == before

    # Re-evaluating the broken year repairs it; the gates pass and the data is published again.
    repaired = run_years(settings, 2017, 2017)
    assert repaired.success, failure_text(repaired)
    assert digest(paths) != before
