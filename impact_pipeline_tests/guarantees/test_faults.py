"""Faults: a killed run, an analyst reading during a run, two runs at once. Nothing good is ever lost."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from impact_pipeline.settings import PROJECT_ROOT, SAMPLE_DIR
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.pipeline import PipelinePaths, digest, failure_text, run_years

SAMPLE = json.loads((SAMPLE_DIR / "startups.json").read_text(encoding="utf-8"))


def without_first_startup() -> dict:
    document = copy.deepcopy(SAMPLE)
    document["data"] = document["data"][1:]
    return document


def n_startups(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM startups").fetchall()[0][0]
    finally:
        con.close()


def cli(paths: PipelinePaths, url: str, years: str, home: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "IMPACT_REGISTRY_URL": url,
        "IMPACT_DUCKDB_PATH": str(paths.duckdb_path),
        "IMPACT_EXPORT_DIR": str(paths.export_dir),
        "IMPACT_WORK_DIR": str(paths.work_dir),
        "IMPACT_ALLOW_PRIVATE_NETWORK": "1",
        # other sources off: tests never leave this machine
        "IMPACT_OBSERVATOIRE_URL": "",
        "IMPACT_GITHUB_API_URL": "",
        "IMPACT_GITLAB_API_URL": "",
        "IMPACT_DATAGOUV_URL": "",
        "IMPACT_URL_CHECKS": "0",
        "IMPACT_USAGE_DISCOVERY": "0",
        "IMPACT_GITLAB_SELF_HOSTED": "0",
        "IMPACT_WEB_ARCHIVE_URL": "",
    }
    env.pop("IMPACT_SAMPLE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "impact_pipeline.cli", "materialize", "--years", years],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def server():
    with LocalServer({"/v1.json": Route(body=SAMPLE), "/v2.json": Route(body=without_first_startup())}) as s:
        yield s


@pytest.mark.timeout(600)
def test_sigkill_halfway_keeps_the_last_good_publication_and_the_next_run_succeeds(tmp_path, server, sample_2025):
    paths = sample_2025.copy_to(tmp_path / "run")  # a good run of the sample world (v1) for 2025 (conftest)
    before = digest(paths)
    marker = paths.work_dir / "validations" / "startups.contract.json"
    marker_mtime = marker.stat().st_mtime_ns

    # A run on a changed registry, killed as soon as it has rewritten the working tables and checked them.
    proc = cli(paths, server.url("/v2.json"), "2025", tmp_path / "dagster_home")
    deadline = time.monotonic() + 240
    while marker.stat().st_mtime_ns == marker_mtime:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert digest(paths) == before  # the last good version, byte for byte
    assert n_startups(paths.duckdb_path) == len(SAMPLE["data"])
    after = run_years(paths.settings(server.url("/v2.json")), 2025, 2025)
    assert after.success, failure_text(after)
    assert n_startups(paths.duckdb_path) == len(SAMPLE["data"]) - 1


def test_analyst_reading_the_published_file_neither_blocks_nor_sees_a_torn_file(tmp_path, server, sample_2025):
    paths = sample_2025.copy_to(tmp_path / "run")  # a good run of the sample world (v1) for 2025 (conftest)
    analyst = duckdb.connect(str(paths.duckdb_path), read_only=True)
    try:
        seen_before = analyst.execute("SELECT count(*) FROM startups").fetchall()
        result = run_years(paths.settings(server.url("/v2.json")), 2025, 2025)
        assert result.success, failure_text(result)
        # the open session keeps its consistent copy; a new one sees the new publication
        assert analyst.execute("SELECT count(*) FROM startups").fetchall() == seen_before == [(len(SAMPLE["data"]),)]
        assert analyst.execute("SELECT count(*) FROM national_impact WHERE year = 2025").fetchall()[0][0] > 0
    finally:
        analyst.close()
    assert n_startups(paths.duckdb_path) == len(SAMPLE["data"]) - 1


@pytest.mark.timeout(900)
def test_two_runs_started_together_are_serialised_without_corruption(tmp_path, server):
    paths = PipelinePaths(tmp_path)
    home = tmp_path / "dagster_home"
    runs = [
        cli(paths, server.url("/v1.json"), "2024:2025", home),
        cli(paths, server.url("/v1.json"), "2024:2025", home),
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0], "\n\n".join(outputs)
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM startups").fetchall() == [(len(SAMPLE["data"]),)]
        per_year = con.execute(
            "SELECT year, count(*), count(DISTINCT startup_id) FROM national_impact GROUP BY year ORDER BY year"
        ).fetchall()
        assert [y for y, _, _ in per_year] == [2024, 2025] and all(n == d for _, n, d in per_year)
        summary = dict(con.execute("SELECT year, n_evaluated FROM national_impact_summary").fetchall())
        assert summary == {y: n for y, n, _ in per_year}
        assert con.execute("SELECT count(*) FROM publish_log").fetchall()[0][0] >= 1
    finally:
        con.close()
    assert {p.name for p in paths.export_dir.glob("national_impact_*.csv")} >= {
        "national_impact_2024.csv",
        "national_impact_2025.csv",
    }
