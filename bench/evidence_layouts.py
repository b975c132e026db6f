"""Issue 19, decision 3 (evidence stored once): what each way of storing national_impact's evidence costs.

    python bench/scale.py --factors 10,100 --keep      # leaves each size's working file in the temp dir it prints
    python bench/evidence_layouts.py <temp dir>/run-100x/pipeline/work/impact.duckdb

On a copy of a working file that a bench run left, the script rebuilds national_impact in three layouts and
prints, for each, the size of the database written afresh (the published copy of a working file keeps its free
blocks, so its size says little), the time to build the table, and the time of the reads that follow it in a run:
the summary, the yearly CSV exports, and the national_impact gates (their four suites' fingerprint and frame
queries, as the gates ran them on 4dce955).
  - table: today's layout, the evidence copied into national_impact (stored twice).
  - reference: national_impact_rows stored without the evidence, and a view `national_impact` (same name,
    columns and values) that joins each row to its three criteria_evaluation rows by key (stored once).
  - view: no stored rows; `national_impact` is a view computing everything from criteria_evaluation.
Every layout is checked to give national_impact the same rows (a hash over every column).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

YEARS = list(range(2016, 2027))
COLUMNS = (
    "year, startup_id, name, phase_at_year_end, criterion_a, criterion_b, criterion_c, meets_criteria, "
    "officially_designated, designation_year, reasons, evidence, criteria_version"
)
EVIDENCE = (
    """('{"a":' || coalesce(a.evidence::VARCHAR, 'null') || ',"b":' || coalesce(b.evidence::VARCHAR, 'null') """
    """|| ',"c":' || coalesce(c.evidence::VARCHAR, 'null') || '}')::JSON"""
)
REFERENCE_VIEW = f"""
    SELECT r.year, r.startup_id, r.name, r.phase_at_year_end, r.criterion_a, r.criterion_b, r.criterion_c,
           r.meets_criteria, r.officially_designated, r.designation_year, r.reasons, {EVIDENCE} AS evidence,
           r.criteria_version
    FROM internal.national_impact_rows r
    LEFT JOIN criteria_evaluation a ON a.year = r.year AND a.startup_id = r.startup_id AND a.criterion = 'a'
    LEFT JOIN criteria_evaluation b ON b.year = r.year AND b.startup_id = r.startup_id AND b.criterion = 'b'
    LEFT JOIN criteria_evaluation c ON c.year = r.year AND c.startup_id = r.startup_id AND c.criterion = 'c'
"""


def _timed(con, sql: str, params: list | None = None) -> float:
    started = time.perf_counter()
    con.execute(sql, params or []).fetchall()
    return time.perf_counter() - started


def _fresh_size(path: Path) -> int:
    """Bytes of the database written into a new file table by table, with each table's own DDL (compression)."""
    import duckdb

    target = path.with_name(path.stem + "-fresh.duckdb")
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
        tables = con.execute("SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = 'src'")
        for schema, name, ddl in tables.fetchall():
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(ddl)  # names its schema unless `main`, the new file's default
            con.execute(f'INSERT INTO "{schema}"."{name}" SELECT * FROM src."{schema}"."{name}"')
        con.execute("CHECKPOINT")
    finally:
        con.close()
    size = target.stat().st_size
    target.unlink()
    return size


def measure(source: Path, layout: str, workdir: Path) -> dict:
    import duckdb

    from impact_pipeline import contract
    from impact_pipeline.criteria_config import load_criteria
    from impact_pipeline.defs.gates import suites as gate_suites
    from impact_pipeline.defs.impact import rules
    from impact_pipeline.lib.urls import register_duckdb_functions
    from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

    config = load_criteria(DEFAULT_CRITERIA_PATH)
    path = workdir / f"{layout}.duckdb"
    shutil.copyfile(source, path)
    settings = {"memory_limit": "900MB", "temp_directory": str(workdir / "duckdb_tmp")}
    con = duckdb.connect(str(path), config=settings)
    con.execute(f"CREATE OR REPLACE TABLE _designated AS {rules.designations_sql(config)}")
    select = rules.national_impact_sql(YEARS, "_designated")
    figures: dict[str, float] = {}
    con.execute("DROP TABLE national_impact")
    con.execute("CHECKPOINT")
    started = time.perf_counter()
    if layout == "table":
        con.execute(contract.NATIONAL_IMPACT.ddl())
        con.execute(f"INSERT INTO national_impact ({COLUMNS}) SELECT {COLUMNS} FROM ({select})")
    elif layout == "reference":
        stored = [c for c in contract.NATIONAL_IMPACT.columns if c.name != "evidence"]
        names = ", ".join(c.name for c in stored)
        con.execute("CREATE SCHEMA internal")
        con.execute(f"CREATE TABLE internal.national_impact_rows ({', '.join(c.definition() for c in stored)})")
        con.execute(f"INSERT INTO internal.national_impact_rows ({names}) SELECT {names} FROM ({select})")
        con.execute(f"CREATE VIEW national_impact AS {REFERENCE_VIEW}")
    else:
        con.execute(f"CREATE VIEW national_impact AS {select}")
    con.execute("CHECKPOINT")
    figures["build"] = time.perf_counter() - started
    con.close()
    con = duckdb.connect(str(path), read_only=True, config=settings)
    register_duckdb_functions(con)
    figures["summary"] = _timed(con, f"SELECT * FROM ({rules.summary_sql(YEARS, '_designated')})")
    figures["exports"] = sum(
        _timed(con, f"SELECT {COLUMNS} FROM national_impact WHERE year = ? ORDER BY startup_id", [y]) for y in YEARS
    )
    gates = 0.0
    for suite in gate_suites.IMPACT_SUITES:
        if suite.table != "national_impact":
            continue
        specs = suite.resolve(config)
        types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE ({suite.base_sql()})").fetchall()}
        verdict_only = suite.query(specs, types, verdict_only=True)
        gates += _timed(con, f"SELECT count(*), coalesce(sum(hash(f)::HUGEINT), 0) FROM ({verdict_only}) AS f")
        gates += _timed(con, f"SELECT * FROM ({suite.query(specs, types)}) ORDER BY year, startup_id")
    figures["gate_reads"] = gates
    check = con.execute(f"SELECT count(*), sum(hash({COLUMNS})) FROM national_impact").fetchall()[0]
    con.close()
    figures["fresh_mb"] = _fresh_size(path) / 1e6
    path.unlink()
    return {"figures": figures, "check": check}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    source = Path(sys.argv[1])
    workdir = Path(tempfile.mkdtemp(prefix="impact-bench-evidence-"))
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; working file {source}")
        checks = set()
        for layout in ("table", "reference", "view"):
            result = measure(source, layout, workdir)
            checks.add(result["check"])
            f = result["figures"]
            print(
                f"{layout:>9}: database written afresh {f['fresh_mb']:6.1f} MB | build {f['build']:6.2f} s | "
                f"summary {f['summary']:5.2f} s | 11 yearly exports {f['exports']:6.2f} s | "
                f"national_impact gate queries {f['gate_reads']:6.2f} s",
                flush=True,
            )
        print(f"national_impact identical in the three layouts: {'yes' if len(checks) == 1 else 'NO'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
