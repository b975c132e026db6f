"""Bespoke JSON stats files (`type: json`): a URL plus the path to the value (`{year}` in the path for one value a
year, else the figure of a fixed `year`); the path grammar is `observations.json_path`'s."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import model_validator

from impact_pipeline.defs.usage.adapters.base import Adapter, FileOptions, Read, ReadContext, SourceSpec, one_of
from impact_pipeline.defs.usage.observations import (
    REACH_UNITS,
    Origin,
    Parsed,
    SourceError,
    json_path,
    parse_json,
    parse_number,
    period_bounds,
)
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.http import is_local_path


class JsonStatsOptions(FileOptions):
    type: Literal["json"] = "json"
    value_path: str
    unit: Annotated[str, one_of(REACH_UNITS, "unit")]
    indicator: str | None = None  # default: value_path
    year: int | None = None  # without `{year}` in value_path: the year of the one figure

    @model_validator(mode="after")
    def _yearly_or_dated(self) -> JsonStatsOptions:
        if "{year}" not in self.value_path and self.year is None:
            raise ValueError("a JSON source needs `{year}` in value_path or a `year`")
        return self


def reads(spec: SourceSpec, context: ReadContext) -> list[Read]:
    """One read of the file; every year from `first_year` to this year is looked for in it."""
    options: JsonStatsOptions = spec.options
    ref, evidence = options.named()
    years = list(range(context.first_year, context.today.year + 1))

    def parse(content: bytes, fetched_at: str) -> Parsed:
        return parse_json_stats(
            parse_json(content, "the stats file"),
            value_path=options.value_path,
            unit=options.unit,
            indicator=options.indicator or options.value_path,
            origin=Origin(spec.startup_id, "json", ref, fetched_at, evidence),
            years=years,
            year=options.year,
        )

    return [Read(FetchRequest(options.url, "json", key=spec.startup_id), is_local_path(options.url), ref, parse)]


def parse_json_stats(
    document: Any,
    *,
    value_path: str,
    unit: str,
    indicator: str,
    origin: Origin,
    years: list[int],
    year: int | None = None,
) -> Parsed:
    """One observation per year: `value_path` with `{year}` is tried for every year in `years`; without it,
    the value is the figure of the configured `year` (`JsonStatsOptions` requires one or the other). A path that is
    absent for a year is no figure."""
    parsed = Parsed()
    if "{year}" in value_path:
        targets = [(y, value_path.replace("{year}", str(y))) for y in years]
    else:
        targets = [(int(year), value_path)]
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
            origin.observation(indicator=indicator, value=value, unit=unit, period_start=start, period_end=end)
        )
    if not found and "{year}" not in value_path:
        raise SourceError(f"path {value_path!r} not found in the document")
    return parsed


ADAPTER = Adapter(source="json", options=JsonStatsOptions, reads=reads)
