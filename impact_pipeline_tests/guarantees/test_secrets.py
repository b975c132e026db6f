"""Secrets: a canary token in the registry URL never reaches logs, run metadata, exceptions or outputs."""

from __future__ import annotations

import duckdb

from impact_pipeline_tests.support.http_server import Route
from impact_pipeline_tests.support.pipeline import CANARY, failure_text, run_years


def database_text(db) -> str:
    """Every value of every table, as text (DuckDB compresses strings: grepping the file bytes is not enough)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def test_canary_token_never_leaks(tmp_path, monkeypatch, sample_registry, sample_2025):
    # The good run: the sample world's 2025 run (conftest), fetched with `?token=CANARY` and recorded in a SQLite
    # instance. The failing run below goes into the same instance, on a copy of that publication.
    good, instance = sample_2025.result, sample_2025.instance
    assert good.success, failure_text(good)
    paths = sample_2025.copy_to(tmp_path / "out")
    sample_registry.add("/down.json", [Route(status=503, body=b"down")] * 2)
    # One retry is enough to log a retry (with the URL) and to fail the same way; the default three wait ~3 s.
    monkeypatch.setenv("IMPACT_HTTP_RETRIES", "1")
    bad = run_years(
        paths.settings(sample_registry.url("/down.json") + f"?token={CANARY}&x=1"), 2025, 2025, instance=instance
    )
    assert not bad.success
    # the token was really used (so the test would see a leak), and the failure names the redacted URL
    assert any(r.query.get("token") == [CANARY] for r in sample_registry.requests if r.path == "/startups.json")
    assert [r.query.get("token") for r in sample_registry.requests if r.path == "/down.json"] == [[CANARY]] * 2
    message = failure_text(bad)
    assert "token=***" in message and CANARY not in message
    for result in (good, bad):
        for record in instance.all_logs(result.run_id):
            assert CANARY not in repr(record)
        assert CANARY not in repr(instance.get_run_by_id(result.run_id))
    # nothing on disk either: the event log storage (SQLite), the outputs, the working area, the validations
    files = [
        p for folder in (sample_2025.home, sample_2025.paths.root, tmp_path) for p in folder.rglob("*") if p.is_file()
    ]
    assert any(p.suffix == ".db" for p in files)  # the instance's SQLite storage is among them
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
        if path.suffix == ".xlsx":  # a zip archive: its members are compressed, so look inside
            import zipfile

            with zipfile.ZipFile(path) as book:
                assert not any(CANARY.encode() in book.read(name) for name in book.namelist()), path
    for db in (sample_2025.paths.duckdb_path, paths.duckdb_path, paths.work_dir / "impact.duckdb"):
        text = database_text(db)
        assert "token=***" in text and CANARY not in text
