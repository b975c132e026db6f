"""`impact-pipeline` as a person uses it: exit codes, a few readable lines on failure, the offline flag, the
coverage warning, separate instances for the sample, the read-only SQL shell and paths read from the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from impact_pipeline.cli import EXIT_USAGE, ensure_dagster_home, fix_for, main
from impact_pipeline.settings import PROJECT_ROOT, SAMPLE_DIR, Settings
from impact_pipeline_tests.defs.reporting import world

SAMPLE_REGISTRY = SAMPLE_DIR / "startups.json"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "DAGSTER_HOME"))}
    env.update(
        {
            "IMPACT_DUCKDB_PATH": str(tmp_path / "out" / "impact.duckdb"),
            "IMPACT_EXPORT_DIR": str(tmp_path / "exports"),
            "DAGSTER_HOME": str(tmp_path / "home"),
            **extra,
        }
    )
    return env


def _cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "impact_pipeline.cli", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_usage_errors_exit_2_in_one_line(tmp_path, monkeypatch, capsys):
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("IMPACT_OFFLINE", "IMPACT_SAMPLE"):  # `main` sets them for its run: restored after the test
        monkeypatch.setenv(name, "")
    assert main(["materialize", "--years", "20x5"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "impact-pipeline materialize: --years: expected YEAR or FIRST:LAST (e.g. 2016:2025), got '20x5'\n"
    )
    monkeypatch.setenv("IMPACT_REGISTRY_URL", "https://beta.gouv.fr/api/v2.5/startups.json")
    assert main(["materialize", "--offline"]) == EXIT_USAGE
    assert "--offline (IMPACT_OFFLINE=1) reads a local registry file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["materialize", "--no-such-flag"])
    assert exited.value.code == EXIT_USAGE


def test_a_failed_run_says_step_cause_and_fix_and_where_the_log_is(tmp_path):
    proc = _cli(
        tmp_path,
        "materialize",
        "--offline",
        "--years",
        "2025",
        IMPACT_REGISTRY_URL=str(tmp_path / "missing" / "startups.json"),
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) <= 15, proc.stderr  # not a hundred lines of Dagster logs
    assert "Traceback" not in proc.stderr
    assert any(line.startswith("  FAILED  registry_raw (") for line in lines)
    assert "  step:  registry_raw" in lines
    assert f"  cause: {tmp_path / 'missing' / 'startups.json'}: file not found" in lines
    assert "  fix:   no file at that path: check IMPACT_REGISTRY_URL" in proc.stderr
    log = Path(proc.stderr.split("full log: ")[1].split()[0])
    text = log.read_text()
    assert "STEP_FAILURE" in text and "lib/http.py" in text and "file not found" in text  # with the stack
    # -v shows Dagster's own log as it comes
    verbose = _cli(
        tmp_path,
        "materialize",
        "--offline",
        "--years",
        "2025",
        "-v",
        IMPACT_REGISTRY_URL=str(tmp_path / "missing" / "startups.json"),
    )
    assert verbose.returncode == 1 and "STEP_FAILURE" in verbose.stderr


def test_fixes_name_what_to_do():
    assert "IMPACT_ALLOW_PRIVATE_NETWORK=1" in fix_for(
        "http://127.0.0.1/x: refusing to connect to private/loopback/link-local address 127.0.0.1"
    )
    assert "--offline" in fix_for("https://x.test/s.json: HTTP 404 Not Found")
    assert "--offline" in fix_for("https://x.test/s.json: could not connect (Connection refused)")


def test_an_offline_run_warns_that_the_evidence_is_incomplete(tmp_path):
    """No network source at all, and no private-network opt-in for a local registry file: every output says
    that (b) and (c) could not be judged, instead of reporting 0 services meeting the criteria as a finding."""
    import duckdb

    proc = _cli(tmp_path, "materialize", "--offline", "--years", "2025", IMPACT_REGISTRY_URL=str(SAMPLE_REGISTRY))
    assert proc.returncode == 0, proc.stderr
    assert "(offline sources)" in proc.stderr and "  ok      published_outputs" in proc.stderr
    assert "WARNING: (b) significant impact could not be judged for" in proc.stdout
    assert "WARNING: (c) quality standards could not be judged for" in proc.stdout
    assert "observatoire: no data (disabled or unreachable)" in proc.stdout
    page = (tmp_path / "exports" / "report_2025.html").read_text(encoding="utf-8")
    assert 'id="coverage-banner"' in page and "could not be judged" in page
    assert (tmp_path / "exports" / "national_impact_2025.xlsx").is_file()
    con = duckdb.connect(str(tmp_path / "out" / "impact.duckdb"), read_only=True)
    try:
        reasons = [r[0] for r in con.execute("SELECT reason FROM criteria_evaluation WHERE criterion = 'c'").fetchall()]
    finally:
        con.close()
    assert reasons and all("no quality source yet (observatoire: no data" in r for r in reasons)
    # The run is tagged with its mode, shown in the UI's run list.
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(tmp_path / "home")
    try:
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs()
            assert run.tags["impact/mode"] == "offline"
    finally:
        del os.environ["DAGSTER_HOME"]


def test_the_sample_has_its_own_dagster_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    real = ensure_dagster_home(sample=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    sample = ensure_dagster_home(sample=True)
    assert real == (tmp_path / "home").resolve() and sample == real / "sample"
    assert (sample / "dagster.yaml").is_file()


def test_relative_output_paths_are_read_from_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMPACT_DUCKDB_PATH", "data/elsewhere.duckdb")
    monkeypatch.setenv("IMPACT_EXPORT_DIR", "data/elsewhere-exports")
    monkeypatch.delenv("IMPACT_WORK_DIR", raising=False)
    settings = Settings.from_env()
    assert settings.duckdb_path == PROJECT_ROOT / "data" / "elsewhere.duckdb"
    assert settings.export_dir == PROJECT_ROOT / "data" / "elsewhere-exports"


def test_sql_is_a_read_only_shell_on_the_published_file(tmp_path):
    published = world.make_published(tmp_path / "pub" / "impact.duckdb")
    env = {"IMPACT_DUCKDB_PATH": str(published)}
    one = _cli(tmp_path, "sql", "-c", "SELECT count(*) AS n FROM national_impact WHERE year = 2025", **env)
    assert one.returncode == 0, one.stderr
    assert str(sum(1 for (y, _) in world.verdicts() if y == 2025)) in one.stdout
    refused = _cli(tmp_path, "sql", "-c", "DELETE FROM national_impact", **env)
    assert refused.returncode == 1 and "read-only" in refused.stderr.lower()
    piped = subprocess.run(
        [sys.executable, "-m", "impact_pipeline.cli", "sql"],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        input="SELECT 40 + 2 AS answer;\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "42" in piped.stdout


def test_a_failing_gate_points_to_its_expectations():
    assert "a gate rejected the data" in fix_for("gate national_impact:verdicts failed: 1 of 4 expectations")
    assert "a gate rejected the data" in fix_for("published_outputs not publishing: blocking gates fail on the data")
    assert fix_for("usage_sources: could not aggregate the figures") == "see the full log for the details"
