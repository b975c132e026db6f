"""Declared figures: a reviewed CSV kept in the repository (service, year, value, unit, evidence URL, who)."""

from __future__ import annotations

import csv
import io
from datetime import date

from impact_pipeline.defs.usage.adapters import DECLARED
from impact_pipeline.defs.usage.observations import Observation, Parsed, SourceError, parse_number

COLUMNS = ("startup_id", "year", "value", "unit", "evidence_url", "declared_by")
UNITS = ("users", "uses", "visits")


def parse_declared(content: bytes, *, source_ref: str, fetched_at: str, known_ids: set[str] | None = None) -> Parsed:
    """Observations (source `declared`) from the declared-figures CSV; bad lines are reported and skipped."""
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SourceError(f"declared figures file: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    parsed = Parsed()
    for line, raw in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()) or row["startup_id"].startswith("#"):
            continue
        problems = [f"`{c}` is empty" for c in ("startup_id", "year", "value", "unit", "declared_by") if not row[c]]
        value, _ = parse_number(row["value"])
        if row["value"] and (value is None or value < 0):
            problems.append(f"value {row['value']!r} is not a non-negative number")
        if row["year"] and not (row["year"].isdigit() and 1990 <= int(row["year"]) <= 2100):
            problems.append(f"year {row['year']!r} is not a year")
        if row["unit"] and row["unit"] not in UNITS:
            problems.append(f"unit {row['unit']!r} is not one of {', '.join(UNITS)}")
        if known_ids is not None and row["startup_id"] and row["startup_id"] not in known_ids:
            problems.append(f"startup_id {row['startup_id']!r} is not in the registry")
        if problems:
            parsed.reject(f"line {line}: " + "; ".join(problems))
            continue
        year = int(row["year"])
        parsed.observations.append(
            Observation(
                startup_id=row["startup_id"],
                source=DECLARED,
                source_ref=row["declared_by"],
                indicator=row.get("indicator") or f"declared yearly {row['unit']}",
                value=value,
                unit=row["unit"],
                period_start=date(year, 1, 1),
                period_end=date(year, 12, 31),
                evidence_url=row["evidence_url"] or None,
                fetched_at=fetched_at,
            )
        )
    return parsed
