"""Fingerprints of a publication: one SHA-256 per exported CSV and per published table, to compare two runs.

Used to show that a refactor changes no published byte: run the pipeline before and after, then
`python bench/outputs.py <duckdb file> <export dir> > after.txt` and diff against the file from before.
Columns that hold the moment of a run (fetch and publication times) differ between any two runs; they are
listed in VOLATILE and left out of the table fingerprints (their names are printed, so nothing hides).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import duckdb

# Columns that record when a run happened, not what it found.
VOLATILE = {"fetched_at", "checked_at", "published_at", "run_id", "found_at", "asked_at", "last_modified"}
# The live registry document is observed when it is fetched (the history's documents keep their folder's date).
VOLATILE_IN = {"registry_raw": {"observed_at"}}
# Hash of the contract's DDL and of views.py's source: changes with any edit of that file, formatting included.
SKIPPED = {"_contract_version"}


def table_fingerprints(db: Path, repo: str = "") -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in [n for n in names if n not in SKIPPED]:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ? "
                    "ORDER BY ordinal_position",
                    [name],
                ).fetchall()
            ]
            kept = [c for c in cols if c not in VOLATILE | VOLATILE_IN.get(name, set())]
            if not kept:
                continue
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in kept)
            digest = hashlib.sha256()
            for row in con.execute(f'SELECT {select} FROM "{name}" ORDER BY ALL').fetchall():
                text = repr(row)
                digest.update((text.replace(repo, "<repo>") if repo else text).encode())
            dropped = sorted(set(cols) - set(kept))
            count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            out[name] = f"{count} rows {digest.hexdigest()[:16]}" + (
                f" (without {', '.join(dropped)})" if dropped else ""
            )
        return out
    finally:
        con.close()


def file_fingerprints(export_dir: Path, repo: str = "") -> dict[str, str]:
    def text(p: Path) -> bytes:
        data = p.read_bytes()
        return data.replace(repo.encode(), b"<repo>") if repo else data

    return {p.name: hashlib.sha256(text(p)).hexdigest()[:16] for p in sorted(export_dir.glob("*.csv"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("duckdb", type=Path)
    parser.add_argument("exports", type=Path)
    parser.add_argument("--repo", default="", help="a checkout's path, read as <repo> (runs of two checkouts compare)")
    args = parser.parse_args(argv)
    for name, fp in table_fingerprints(args.duckdb, args.repo).items():
        print(f"table {name}: {fp}")
    for name, fp in file_fingerprints(args.exports, args.repo).items():
        print(f"csv {name}: {fp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
