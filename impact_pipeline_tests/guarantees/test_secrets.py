"""Secrets: a canary token in the registry URL never reaches logs, run metadata, exceptions or outputs."""

from __future__ import annotations

import duckdb
import dagster as dg

from impact_pipeline.settings import SAMPLE_DIR
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.pipeline import PipelinePaths, failure_text, run_years

CANARY = "CANARY-7f3e9b1c0d2a-do-not-leak"


def database_text(db) -> str:
    """Every value of every table, as text (DuckDB compresses strings: grepping the file bytes is not enough)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def test_canary_token_never_leaks(tmp_path):
    paths = PipelinePaths(tmp_path / "out")
    sample = (SAMPLE_DIR / "startups.json").read_bytes()
    (tmp_path / "dagster_home").mkdir()
    with LocalServer({"/ok.json": Route(body=sample), "/down.json": [Route(status=503, body=b"down")] * 5}) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        good = run_years(paths.settings(server.url("/ok.json") + f"?token={CANARY}"), 2025, 2025, instance=instance)
        assert good.success, failure_text(good)
        bad = run_years(paths.settings(server.url("/down.json") + f"?token={CANARY}&x=1"), 2025, 2025, instance=instance)
        assert not bad.success
        # the token was really used (so the test would see a leak), and the failure names the redacted URL
        assert any(r.query.get("token") == [CANARY] for r in server.requests)
        message = failure_text(bad)
        assert "token=***" in message and CANARY not in message
        for result in (good, bad):
            for record in instance.all_logs(result.run_id):
                assert CANARY not in repr(record)
            assert CANARY not in repr(instance.get_run_by_id(result.run_id))
    # nothing on disk either: the event log storage (SQLite), the outputs, the working area, the validations
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)  # the instance's SQLite storage is among them
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    for db in (paths.duckdb_path, paths.work_dir / "impact.duckdb"):
        text = database_text(db)
        assert "token=***" in text and CANARY not in text
