"""Yearly reach: the best figure per service and year, by an explicit evidence ranking.

Pure rules over the observations (no Dagster, no I/O): targets and stocks never count; a figure covers a
year when its period is a calendar year, or a 12-month period (360–366 days) attributed to the calendar
year holding most of its days (no prorating: the figure is shown with its real period); shorter periods
are summed when they tile the whole calendar year without overlap (sums of unique visitors are an upper
bound); longer periods are not yearly figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# Best first. The order is read from the criteria config (`criteria.b.evidence_ranking`).
DEFAULT_RANKING = ("measured_users", "measured_uses", "monthly_uniques_upper_bound", "declared")
PEOPLE_UNITS = ("users", "visitors")
FLOW_UNITS = ("visits", "uses")

COLUMNS = ["startup_id", "year", "value", "unit", "kind", "evidence_rank", "source", "source_ref", "evidence_url",
           "upper_bound", "n_candidates", "note", "period_start", "period_end"]


@dataclass(frozen=True)
class Candidate:
    startup_id: str
    year: int
    value: float
    unit: str
    kind: str
    rank: str
    source: str
    source_ref: str
    evidence_url: str | None
    upper_bound: bool
    note: str
    period_start: date
    period_end: date
    indicator: str


def _d(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if hasattr(value, "date"):
        try:
            return value.date()
        except (TypeError, ValueError):
            return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _majority_year(start: date, end: date) -> tuple[int, int, int]:
    """(year holding most days, its days, total days); ties go to the year of the end date."""
    total = (end - start).days + 1
    counts: dict[int, int] = {}
    for year in range(start.year, end.year + 1):
        lo, hi = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
        counts[year] = (hi - lo).days + 1
    year = max(counts, key=lambda y: (counts[y], y))
    return year, counts[year], total


def _kind(unit: str) -> str:
    return "users" if unit in PEOPLE_UNITS else unit


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def candidates(observations: list[dict[str, Any]]) -> list[Candidate]:
    """Every yearly figure the observations support, with its evidence rank."""
    out: list[Candidate] = []
    groups: dict[tuple, list[dict]] = {}
    for o in observations:
        unit = o.get("unit")
        if o.get("is_target") or o.get("is_stock") or unit not in (*PEOPLE_UNITS, *FLOW_UNITS):
            continue
        start, end, value = _d(o.get("period_start")), _d(o.get("period_end")), o.get("value")
        if start is None or end is None or value is None or value != value or end < start:
            continue
        declared = o.get("source") == "declared"
        year, inside, total = _majority_year(start, end)
        base = dict(startup_id=o["startup_id"], unit=unit, kind=_kind(unit), source=o["source"],
                    source_ref=o["source_ref"], evidence_url=o.get("evidence_url"), indicator=o.get("indicator") or "")
        if 360 <= total <= 366:
            if start == date(year, 1, 1) and end == date(year, 12, 31):
                note = f"{o.get('indicator')} for the calendar year {year}"
            else:
                note = (f"{o.get('indicator')} over 12 months {start}→{end}, attributed to {year} "
                        f"({inside} of {total} days in {year}; not prorated)")
            rank = "declared" if declared else "measured_users" if unit in PEOPLE_UNITS else "measured_uses"
            out.append(Candidate(year=year, value=float(value), rank=rank, upper_bound=False, note=note,
                                 period_start=start, period_end=end, **base))
        elif total < 360 and not declared:
            key = (o["startup_id"], o["source"], o["source_ref"], o.get("indicator"), unit, year)
            groups.setdefault(key, []).append({**o, "_start": start, "_end": end})
    for (sid, source, ref, indicator, unit, year), rows in groups.items():
        rows.sort(key=lambda r: r["_start"])
        first, last = date(year, 1, 1), date(year, 12, 31)
        clipped = [(max(r["_start"], first), min(r["_end"], last)) for r in rows]
        days = sum((b - a).days + 1 for a, b in clipped)
        # Must tile the year: no overlap, no gap, nothing outside it.
        tiles = (clipped[0][0] == first and clipped[-1][1] == last and days == (last - first).days + 1
                 and all(clipped[i + 1][0] == clipped[i][1] + timedelta(days=1) for i in range(len(clipped) - 1))
                 and all(r["_start"] >= first and r["_end"] <= last for r in rows))
        if not tiles:
            continue
        total = float(sum(r["value"] for r in rows))
        evidence = next((r.get("evidence_url") for r in rows if r.get("evidence_url")), None)
        people = unit in PEOPLE_UNITS
        note = (f"sum of {len(rows)} {'monthly ' if len(rows) == 12 else ''}{indicator} figures for {year}"
                + (", an upper bound: a person returning in several periods is counted each time" if people else ""))
        out.append(Candidate(
            startup_id=sid, year=year, value=total, unit=unit, kind=_kind(unit),
            rank="monthly_uniques_upper_bound" if people else "measured_uses", source=source, source_ref=ref,
            evidence_url=evidence, upper_bound=people, note=note, period_start=first, period_end=last,
            indicator=indicator or "",
        ))
    return out


def yearly_reach(observations: list[dict[str, Any]], ranking: tuple[str, ...] = DEFAULT_RANKING,
                 is_public: Any = None) -> list[dict[str, Any]]:
    """One row per (service, year): the best-ranked figure; within a rank, one with a public evidence URL,
    then the largest (each figure is a measure of the same service's reach), then by source for determinism."""
    order = {r: i for i, r in enumerate(ranking)}
    is_public = is_public or (lambda url: bool(url))
    by_key: dict[tuple[str, int], list[Candidate]] = {}
    for c in candidates(observations):
        if c.rank in order:
            by_key.setdefault((c.startup_id, c.year), []).append(c)
    rows = []
    for (sid, year), cands in sorted(by_key.items()):
        best = min(cands, key=lambda c: (order[c.rank], not is_public(c.evidence_url), -c.value, c.source, c.source_ref, c.indicator))
        others = sorted({f"{c.rank} {_fmt(c.value)} {c.kind} ({c.source})" for c in cands if c is not best})
        note = best.note + (f"; other figures: {', '.join(others)}" if others else "")
        rows.append({
            "startup_id": sid, "year": year, "value": best.value, "unit": best.unit, "kind": best.kind,
            "evidence_rank": best.rank, "source": best.source, "source_ref": best.source_ref,
            "evidence_url": best.evidence_url, "upper_bound": best.upper_bound, "n_candidates": len(cands),
            "note": note, "period_start": best.period_start, "period_end": best.period_end,
        })
    return rows
