"""The scale-out path: the sample world through deploy/postgres/dagster.yaml (PostgreSQL run/event storage)
with the multiprocess executor, launched the way an operator would (`dagster job execute`).

Needs a reachable PostgreSQL (`.ci/run` starts one): `IMPACT_TEST_PG_DSN`, default
`postgresql://dagster:dagster@127.0.0.1:5432/dagster`. Skips with the reason when there is none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "postgres"
DEFAULT_DSN = "postgresql://dagster:dagster@127.0.0.1:5432/dagster"
FIRST, LAST = 2016, 2026  # inside the sample's partitions (2016 to the current year)


def _postgres():
    """A connection to the test PostgreSQL, or a skip naming what is missing."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed (pip install -e '.[postgres]')")
    import psycopg2

    dsn = os.environ.get("IMPACT_TEST_PG_DSN", DEFAULT_DSN)
    try:
        con = psycopg2.connect(dsn, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        where = f"{urlsplit(dsn).hostname}:{urlsplit(dsn).port or 5432}"
        pytest.skip(
            f"no PostgreSQL reachable at {where} (set IMPACT_TEST_PG_DSN; .ci/run starts one): "
            f"{str(exc).strip().splitlines()[0]}"
        )
    con.autocommit = True
    return dsn, con


@pytest.fixture
def fresh_database():
    """A database of its own: no run, event or pool slot left by an earlier (or killed) run interferes."""
    import psycopg2

    dsn, admin = _postgres()
    name = f"impact_scale_out_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        try:
            cur.execute(f"CREATE DATABASE {name}")
        except psycopg2.errors.InsufficientPrivilege:
            admin.close()
            pytest.skip("the PostgreSQL user of IMPACT_TEST_PG_DSN may not create databases (needs CREATEDB)")
    parts = urlsplit(dsn)._replace(path=f"/{name}")
    try:
        yield parts
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.mark.timeout(900)  # 23 steps, each in its own process; slower than the in-process runs
def test_sample_world_runs_on_postgres_storage_with_the_multiprocess_executor(tmp_path, fresh_database):
    import psycopg2

    parts = fresh_database
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    out = tmp_path / "out"
    token = uuid.uuid4().hex
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "DAGSTER_"))},
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parts.port or 5432),
        "DAGSTER_PG_USER": parts.username or "",
        "DAGSTER_PG_PASSWORD": parts.password or "",
        "DAGSTER_PG_DB": parts.path.lstrip("/"),  # the fresh database
        "IMPACT_SAMPLE": "1",
        "IMPACT_EXECUTOR": "multiprocess",
        "IMPACT_DUCKDB_PATH": str(out / "impact.duckdb"),
        "IMPACT_EXPORT_DIR": str(out / "exports"),
    }
    tags = {
        "dagster/asset_partition_range_start": str(FIRST),
        "dagster/asset_partition_range_end": str(LAST),
        "impact/test": token,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "execute",
            "-m",
            "impact_pipeline.definitions",
            "-j",
            "impact_job",
            "-c",
            str(DEPLOY / "run_config.yaml"),
            "--tags",
            json.dumps(tags),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert "multiprocess executor" in log  # steps ran in their own processes

    # The run and its step events are recorded in PostgreSQL, not in DAGSTER_HOME.
    con = psycopg2.connect(parts.geturl(), connect_timeout=3)
    with con, con.cursor() as cur:
        cur.execute(
            "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE t.key = 'impact/test' AND t.value = %s",
            (token,),
        )
        runs = cur.fetchall()
        assert [status for _, status in runs] == ["SUCCESS"]
        cur.execute(
            "SELECT count(DISTINCT step_key) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'STEP_SUCCESS'",
            (runs[0][0],),
        )
        assert cur.fetchall()[0][0] >= 5
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION' "
            "AND asset_key LIKE %s",
            (runs[0][0], '%published_outputs%'),
        )
        assert cur.fetchall()[0][0] == 1
    con.close()
    assert not list(home.glob("**/*.db")), "run history went to SQLite under DAGSTER_HOME"

    # The outputs exist: the published DuckDB file with every year, and one CSV per year.
    import duckdb

    published = duckdb.connect(str(out / "impact.duckdb"), read_only=True)
    try:
        years = [r[0] for r in published.execute("SELECT DISTINCT year FROM national_impact ORDER BY 1").fetchall()]
        n_startups = published.execute("SELECT count(*) FROM startups").fetchall()[0][0]
    finally:
        published.close()
    assert years == list(range(FIRST, LAST + 1))
    assert n_startups > 0
    assert sorted(p.name for p in (out / "exports").glob("national_impact_*.csv")) == [
        f"national_impact_{y}.csv" for y in years
    ]
