"""Registry ingest through the whole job: sample world, determinism and broken registries."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from impact_pipeline_tests.support.http_server import Route
from impact_pipeline_tests.support.pipeline import PipelinePaths, failure_text, run_years


def _digest(folder: Path) -> dict[str, str]:
    """The CSV exports' checksums (charts and reports carry the publication time, CSVs must not)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def _tables(db: Path) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
            for t in (
                "startups",
                "startup_phases",
                "startup_events",
                "incubators",
                "registry_findings",
                "criteria_evaluation",
                "national_impact",
                "national_impact_summary",
            )
        }
    finally:
        con.close()


# `sample_every_year` (conftest): one good run of the sample world, 2016-2026, shared read-only; tests that run
# the pipeline again work on a copy of it.


def test_sample_world_exercises_every_path(sample_every_year):
    paths = sample_every_year.paths
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    findings = con.execute("SELECT startup_id, field, problem FROM registry_findings ORDER BY ALL").fetchall()
    problems = {(sid, problem.split(" (")[0]) for sid, _, problem in findings}
    assert ("demo-qualite-donnees", "unknown phase name") in problems
    assert ("demo-qualite-donnees", "unparsable date") in problems
    assert ("demo-qualite-donnees", "missing date") in problems
    assert ("exemple-sans-phase", "startup has no phase: it is never evaluated") in problems
    # old vocabulary kept beside its normalisation
    assert con.execute("SELECT phase_normalized FROM startup_phases WHERE phase = 'success'").fetchall() == [
        ("transfere",)
    ]
    # the designated service still in construction fails (a) in its designation year, with the phase named
    verdict, reasons = con.execute(
        "SELECT criterion_a, reasons FROM national_impact WHERE startup_id = 'demo-guichet-tardif' AND year = 2022"
    ).fetchall()[0]
    assert verdict == "fail" and "'construction'" in reasons
    # a tie construction + acceleration on the same day: the one furthest along wins
    assert con.execute(
        "SELECT phase_at_year_end, criterion_a FROM national_impact WHERE startup_id = "
        "'exemple-passerelle-success' AND year = 2016"
    ).fetchall() == [("acceleration", "pass")]
    designated = dict(con.execute("SELECT year, n_designated_in_year FROM national_impact_summary").fetchall())
    assert designated == {
        2016: 1,
        2017: 0,
        2018: 0,
        2019: 1,
        2020: 0,
        2021: 2,
        2022: 2,
        2023: 1,
        2024: 1,
        2025: 1,
        2026: 0,
    }
    evaluated = dict(con.execute("SELECT year, n_evaluated FROM national_impact_summary").fetchall())
    assert [evaluated[y] for y in range(2016, 2027)] == [2, 5, 8, 11, 12, 12, 12, 13, 13, 13, 13]
    # quotes and SQL-looking text are stored verbatim, never executed
    pitch = con.execute("SELECT pitch FROM startups WHERE startup_id = 'demo-tableur'").fetchall()[0][0]
    assert "DROP TABLE startups" in pitch
    # a name read as a formula by spreadsheets is neutralised in the CSV, verbatim in DuckDB
    assert con.execute("SELECT name FROM startups WHERE startup_id = 'demo-tableur'").fetchall()[0][0].startswith("=")
    csv_text = (paths.export_dir / "national_impact_2019.csv").read_text(encoding="utf-8")
    assert ",'=Démo tableur," in csv_text and ",=Démo" not in csv_text


def test_two_runs_on_the_same_input_are_identical(tmp_path, sample_registry, sample_every_year):
    first, second = sample_every_year.copy_to(tmp_path / "one"), PipelinePaths(tmp_path / "two")
    result = run_years(second.settings(sample_registry.url("/startups.json")), 2016, 2026)
    assert result.success, failure_text(result)
    assert _tables(first.duckdb_path) == _tables(second.duckdb_path)
    assert _digest(first.export_dir) == _digest(second.export_dir)
    assert len([name for name in _digest(first.export_dir) if name.endswith(".csv")]) == 11
    # and a re-run in the same place does not duplicate anything
    result = run_years(first.settings(sample_registry.url("/startups.json")), 2016, 2026)
    assert result.success
    assert _tables(first.duckdb_path) == _tables(second.duckdb_path)
    assert _digest(first.export_dir) == _digest(second.export_dir)


@pytest.mark.parametrize(
    "route, expected",
    [
        (Route(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}), "not valid JSON"),
        ([Route(status=500, body=b"oops")] * 4, "HTTP 500"),
        (Route(body={"data": {"id": "x"}}), "`data` is not a list"),
        (Route(body=[1, 2, 3]), "not a JSON object"),
        (
            Route(body=b'{"data": [{"id": "a", "attributes": {'),
            "not valid JSON: Malformed JSON at byte 37 of input: unexpected end of data (the document is truncated)",
        ),
    ],
    ids=["not-json", "http-500", "data-not-a-list", "not-an-object", "truncated"],
)
def test_broken_registry_fails_the_run_and_keeps_published_outputs(
    tmp_path, monkeypatch, sample_registry, sample_every_year, route, expected
):
    paths = sample_every_year.copy_to(tmp_path / "copy")  # the last good publication
    # A 500 is still retried once and still fails the run; the default three retries only add ~3 s of backoff.
    monkeypatch.setenv("IMPACT_HTTP_RETRIES", "1")
    before_db = hashlib.sha256(paths.duckdb_path.read_bytes()).hexdigest()
    before_csv = _digest(paths.export_dir)

    sample_registry.add("/broken.json", route)
    url = sample_registry.url("/broken.json")
    result = run_years(paths.settings(url), 2016, 2026)
    assert not result.success
    message = failure_text(result)
    assert url in message and expected in message, message
    assert hashlib.sha256(paths.duckdb_path.read_bytes()).hexdigest() == before_db
    assert _digest(paths.export_dir) == before_csv
    # nothing of the broken document reached the working tables either
    con = duckdb.connect(str(paths.work_dir / "impact.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM startups").fetchall()[0][0] == 14
