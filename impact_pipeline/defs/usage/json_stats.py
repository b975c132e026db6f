"""Bespoke JSON stats files: a URL plus the path to the value (`{year}` in the path for one value a year)."""

from __future__ import annotations

from datetime import date
from typing import Any

from impact_pipeline.defs.usage.observations import (
    Observation,
    Parsed,
    SourceError,
    json_path,
    parse_number,
    period_bounds,
)


def parse_json_stats(
    document: Any,
    *,
    value_path: str,
    unit: str,
    indicator: str,
    startup_id: str,
    source_ref: str,
    fetched_at: str,
    evidence_url: str | None,
    years: list[int],
    year: int | None = None,
) -> Parsed:
    """One observation per year: `value_path` with `{year}` is tried for every year in `years`; without it,
    the value is the figure of the configured `year`. A path that is absent for a year is no figure."""
    parsed = Parsed()
    if "{year}" in value_path:
        targets = [(y, value_path.replace("{year}", str(y))) for y in years]
    elif year is not None:
        targets = [(int(year), value_path)]
    else:
        raise SourceError("a JSON source needs `{year}` in value_path or a `year`")
    found = 0
    for y, path in targets:
        try:
            raw = json_path(document, path)
        except KeyError:
            continue
        found += 1
        value, _ = parse_number(raw)
        if value is None or value < 0:
            parsed.reject(f"{path}: {raw!r} is not a non-negative number")
            continue
        start, end = period_bounds(date(y, 1, 1), "year")
        parsed.observations.append(
            Observation(
                startup_id=startup_id,
                source="json",
                source_ref=source_ref,
                indicator=indicator,
                value=value,
                unit=unit,
                period_start=start,
                period_end=end,
                evidence_url=evidence_url,
                fetched_at=fetched_at,
            )
        )
    if not found and "{year}" not in value_path:
        raise SourceError(f"path {value_path!r} not found in the document")
    return parsed
