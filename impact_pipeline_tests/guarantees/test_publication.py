"""Publication is all or nothing as a reader sees it: a refused write, a kill at any moment or a WAL left by an
analyst never shows readers a mix of two publications, and the next publication cleans up what was left."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import PROJECT_ROOT

FIRST_YEAR = 2016


def warehouse(root: Path) -> Warehouse:
    return Warehouse(
        duckdb_path=str(root / "published" / "impact.duckdb"),
        export_dir=str(root / "exports"),
        work_dir=str(root / "work"),
    )


def write_working_data(wh: Warehouse, marker: str, n_years: int, rows: int = 200) -> None:
    """Working data whose every row says which publication it belongs to (`name` = marker)."""
    with wh.connect() as con:
        con.execute("DELETE FROM national_impact")
        con.execute(
            "INSERT INTO national_impact (year, startup_id, name, criteria_version) "
            "SELECT y, 'svc-' || i, ?, 'test' FROM range(?, ?) t(y), range(?) s(i)",
            [marker, FIRST_YEAR, FIRST_YEAR + n_years, rows],
        )


def what_readers_see(wh: Warehouse) -> dict[str, set[str]]:
    """The markers a new reader finds in the published DuckDB file and in each CSV of the export folder."""
    con = duckdb.connect(str(wh.published_path), read_only=True)
    try:
        seen = {"duckdb": {r[0] for r in con.execute("SELECT DISTINCT name FROM national_impact").fetchall()}}
    finally:
        con.close()
    for path in sorted(Path(wh.export_dir).glob("national_impact_*.csv")):
        if path.is_file():  # a new year's link dangles until its publication is current
            with open(path, encoding="utf-8", newline="") as fh:
                seen[path.name] = {row["name"] for row in csv.DictReader(fh)}
    return seen


def assert_one_publication(wh: Warehouse, marker: str | None = None) -> str:
    seen = what_readers_see(wh)
    markers = set().union(*seen.values())
    assert len(markers) == 1, f"readers see a mix of publications: {seen}"
    (found,) = markers
    assert marker is None or found == marker, seen
    # every year of that publication has its CSV, and no CSV of another year is shown
    con = duckdb.connect(str(wh.published_path), read_only=True)
    try:
        years = {r[0] for r in con.execute("SELECT DISTINCT year FROM national_impact").fetchall()}
    finally:
        con.close()
    assert {k for k in seen if k != "duckdb"} == {f"national_impact_{y}.csv" for y in years}
    return found


def leftovers(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith((".tmp", ".link")) or ".tmp" in p.name
    )


def assert_clean_store(wh: Warehouse) -> None:
    store = wh.store_dir
    names = {p.name for p in store.iterdir()}
    kept = {os.readlink(store / "current"), os.readlink(store / "previous")}
    assert names == {"current", "previous"} | kept, names


def test_a_refused_write_in_the_export_folder_leaves_the_previous_publication_whole(tmp_path):
    wh = warehouse(tmp_path)
    write_working_data(wh, "v1", n_years=5)
    wh.publish("run-v1")
    before = wh.current_publication()
    # The export folder refuses the new year's file (here a folder in its way; a full disk or a read-only mount
    # refuse the same way), after the earlier years could have been replaced.
    blocker = Path(wh.export_dir) / f"national_impact_{FIRST_YEAR + 5}.csv"
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    write_working_data(wh, "v2", n_years=6)
    with pytest.raises(OSError):
        wh.publish("run-v2")
    assert wh.current_publication() == before  # what the CLI reads to say "unchanged"
    assert_one_publication(wh, "v1")

    # Once the export folder accepts it again, the next publication is whole and leaves nothing behind.
    (blocker / "keep").unlink()
    blocker.rmdir()
    wh.publish("run-v2-again")
    assert wh.current_publication() != before
    assert_one_publication(wh, "v2")
    assert leftovers(tmp_path) == []
    assert_clean_store(wh)


PUBLISHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from impact_pipeline_tests.guarantees.test_publication import warehouse, write_working_data
    wh = warehouse(Path({root!r}))
    write_working_data(wh, {marker!r}, n_years={n_years}, rows={rows})
    print("ready", flush=True)
    sys.stdin.readline()
    wh.publish({marker!r})
    print("done", flush=True)
""")


@pytest.mark.timeout(300)
def test_a_publication_killed_at_any_moment_is_seen_whole_and_the_next_one_cleans_up(tmp_path):
    wh = warehouse(tmp_path)
    rows = 4000  # enough that writing the CSVs takes a while: the kills land inside the publication
    write_working_data(wh, "v0", n_years=8, rows=rows)
    started = time.monotonic()
    wh.publish("v0")
    duration = time.monotonic() - started
    killed = 0
    for k, fraction in enumerate((0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95), start=1):
        marker = f"v{k}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                PUBLISHER.format(
                    tests=str(PROJECT_ROOT), root=str(tmp_path), marker=marker, n_years=8 + k % 2, rows=rows
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed += proc.returncode == -signal.SIGKILL
        assert_one_publication(wh)  # the previous publication or this one, whole
    assert killed >= 4, "the publisher finished before most kills: the test no longer tests a kill"

    write_working_data(wh, "final", n_years=9, rows=10)
    wh.publish("final")
    assert_one_publication(wh, "final")
    assert leftovers(tmp_path) == []
    assert_clean_store(wh)


def test_a_wal_left_by_a_read_write_analyst_is_never_read_with_a_new_publication(tmp_path):
    wh = warehouse(tmp_path)
    write_working_data(wh, "v1", n_years=2)
    wh.publish("run-v1")
    # An analyst opens the published file read-write, writes, and their session dies before closing.
    analyst = textwrap.dedent(f"""
        import duckdb, os
        con = duckdb.connect({str(wh.published_path)!r})
        con.execute("CREATE TABLE my_notes AS SELECT 42 AS n")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", analyst], check=True)
    assert list(tmp_path.rglob("*.wal")), "the analyst session left no WAL: the test no longer tests one"

    write_working_data(wh, "v2", n_years=3)
    wh.publish("run-v2")
    # Every reader, the pipeline's chart step included (it opens the file read-only), reads the new publication.
    from impact_pipeline.defs.reporting.data import connect_published

    con = connect_published(wh.published_path)
    try:
        assert con.execute("SELECT DISTINCT name FROM national_impact").fetchall() == [("v2",)]
    finally:
        con.close()
    assert_one_publication(wh, "v2")


def test_a_publication_of_the_older_layout_is_adopted_without_a_reader_seeing_a_change(tmp_path):
    """Plain files written by the older publish (no store yet) become the first version, then links replace them."""
    wh = warehouse(tmp_path)
    write_working_data(wh, "old", n_years=2)
    published, export_dir = wh.published_path, Path(wh.export_dir)
    published.parent.mkdir(parents=True)
    export_dir.mkdir()
    shutil.copyfile(wh.working_path, published)
    for year in (FIRST_YEAR, FIRST_YEAR + 1):
        (export_dir / f"national_impact_{year}.csv").write_text("name\nold\n", encoding="utf-8")
    (published.with_name(published.name + ".wal")).write_bytes(b"stale")  # an analyst's, from the plain file

    write_working_data(wh, "new", n_years=3)
    wh.publish("run-new")
    assert published.is_symlink() and all(p.is_symlink() for p in export_dir.glob("national_impact_*.csv"))
    assert not published.with_name(published.name + ".wal").exists()
    assert_one_publication(wh, "new")
    previous = wh.store_dir / "previous"
    assert (previous / f"national_impact_{FIRST_YEAR}.csv").read_text(encoding="utf-8") == "name\nold\n"
    assert leftovers(tmp_path) == []


@pytest.mark.timeout(600)
def test_the_cli_says_published_when_a_step_after_publication_fails(tmp_path):
    """The chart step, after publication, cannot write its file: the run fails, and the CLI says it published."""
    import json

    from impact_pipeline.settings import SAMPLE_DIR
    from impact_pipeline_tests.guarantees.test_faults import cli
    from impact_pipeline_tests.support.http_server import LocalServer, Route
    from impact_pipeline_tests.support.pipeline import PipelinePaths

    paths = PipelinePaths(tmp_path)
    (paths.export_dir / "national_impact.png").mkdir(parents=True)  # the chart's file cannot be written
    sample = json.loads((SAMPLE_DIR / "startups.json").read_text(encoding="utf-8"))
    with LocalServer({"/v1.json": Route(body=sample)}) as server:
        proc = cli(paths, server.url("/v1.json"), "2025", tmp_path / "dagster_home")
        output = proc.communicate(timeout=500)[0]
    assert proc.returncode == 1 and "FAILED" in output, output
    assert "national_impact_chart" in output, output
    assert "left unchanged" not in output, output
    assert f"this run PUBLISHED {paths.duckdb_path}" in output, output
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM national_impact WHERE year = 2025").fetchall()[0][0] > 0
    finally:
        con.close()


def test_the_configured_published_path_stays_the_link_readers_use(tmp_path, monkeypatch):
    """Settings must not resolve IMPACT_DUCKDB_PATH: resolved, it names one version's file, and the next run would
    publish beside that version instead of switching `current`."""
    from impact_pipeline.settings import Settings

    wh = warehouse(tmp_path)
    write_working_data(wh, "v1", n_years=1)
    wh.publish("run-v1")
    assert wh.published_path.is_symlink()
    monkeypatch.setenv("IMPACT_DUCKDB_PATH", str(wh.published_path))
    monkeypatch.delenv("IMPACT_SAMPLE", raising=False)
    assert Settings.from_env().duckdb_path == wh.published_path


def test_a_copy_that_dereferenced_the_links_publishes_again(tmp_path):
    """`shutil.copytree` without symlinks=True turns `current` into a folder: it becomes a version again."""
    wh = warehouse(tmp_path / "a")
    write_working_data(wh, "v1", n_years=2)
    wh.publish("run-v1")
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # links dereferenced
    copy = warehouse(tmp_path / "b")
    assert not (copy.store_dir / "current").is_symlink()
    write_working_data(copy, "v2", n_years=3)
    copy.publish("run-v2")
    assert_one_publication(copy, "v2")
    assert (copy.store_dir / "previous" / "impact.duckdb").is_file()
    assert leftovers(tmp_path / "b") == []
    assert_clean_store(copy)
    assert_one_publication(wh, "v1")  # the original is untouched
