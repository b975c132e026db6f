"""Yearly reach: the figure that decides each service's year, by an explicit evidence ranking.

Pure rules over the observations (no Dagster, no I/O): targets, stocks and metrics the source did not compute
never count; a figure covers a year when its period is a calendar year, or a 12-month period (360–366 days)
attributed to the calendar year holding most of its days (no prorating: the figure is shown with its real
period). Shorter periods inside a calendar year are summed (sums of unique visitors are an upper bound); when
they do not cover the whole year the sum is a lower bound, with the months it covers and the last day no period
covers (criterion (b) tells "the service did not exist yet" from "figures are missing"). Longer periods are not
yearly figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from impact_pipeline.criteria_config import EVIDENCE_RANKING
from impact_pipeline.defs.usage.adapters import DECLARED

# Best first. The order is read from the criteria config (`criteria.b.evidence_ranking`), this one by default.
DEFAULT_RANKING = EVIDENCE_RANKING
PEOPLE_UNITS = ("users", "visitors")
FLOW_UNITS = ("visits", "uses")

COLUMNS = [
    "startup_id",
    "year",
    "value",
    "unit",
    "kind",
    "evidence_rank",
    "source",
    "source_ref",
    "evidence_url",
    "upper_bound",
    "n_candidates",
    "note",
    "period_start",
    "period_end",
    "lower_bound",
    "coverage",
    "last_uncovered_day",
    "top_figure",
]
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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
    lower_bound: bool = False  # the periods do not cover the whole year: at least this many
    coverage: str | None = None  # what the periods cover, when not the whole year ("May–December")
    last_uncovered_day: date | None = None


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


def _ranges(days: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Sorted, merged day ranges (touching ranges join)."""
    merged: list[tuple[date, date]] = []
    for a, b in sorted(days):
        if merged and a <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _describe_range(a: date, b: date) -> str:
    """`May–December` when the range is whole months, else ISO days."""
    month_end = (b + timedelta(days=1)).day == 1
    if a.day == 1 and month_end:
        return (
            _MONTH_NAMES[a.month - 1]
            if a.month == b.month
            else f"{_MONTH_NAMES[a.month - 1]}–{_MONTH_NAMES[b.month - 1]}"
        )
    return f"{a}→{b}"


def _sum_inside(sid, source, ref, indicator, unit, year, rows) -> Candidate | None:
    """The sum of the periods inside `year`; a lower bound when they leave days uncovered; None when they overlap
    (two figures for the same days cannot be added)."""
    rows = sorted(rows, key=lambda r: (r["_start"], r["_end"]))
    if any(rows[i + 1]["_start"] <= rows[i]["_end"] for i in range(len(rows) - 1)):
        return None
    first, last = date(year, 1, 1), date(year, 12, 31)
    covered = _ranges([(r["_start"], r["_end"]) for r in rows])
    full = covered == [(first, last)]
    uncovered, cursor = [], first
    for a, b in covered:
        if a > cursor:
            uncovered.append((cursor, a - timedelta(days=1)))
        cursor = b + timedelta(days=1)
    if cursor <= last:
        uncovered.append((cursor, last))
    total = float(sum(r["value"] for r in rows))
    evidence = next((r.get("evidence_url") for r in rows if r.get("evidence_url")), None)
    people = unit in PEOPLE_UNITS
    coverage = None if full else ", ".join(_describe_range(a, b) for a, b in covered)
    note = (
        f"sum of {len(rows)} {'monthly ' if len(rows) == 12 else ''}{indicator} figures for {year}"
        + (
            ""
            if full
            else f", covering {coverage} only"
            if people
            else f", a lower bound: the figures cover {coverage} only"
        )
        + (", an upper bound: a person returning in several periods is counted each time" if people else "")
    )
    return Candidate(
        startup_id=sid,
        year=year,
        value=total,
        unit=unit,
        kind=_kind(unit),
        rank="monthly_uniques_upper_bound" if people else "measured_uses",
        source=source,
        source_ref=ref,
        evidence_url=evidence,
        upper_bound=people,
        note=note,
        period_start=first if full else covered[0][0],
        period_end=last if full else covered[-1][1],
        indicator=indicator or "",
        lower_bound=not full,
        coverage=coverage,
        last_uncovered_day=uncovered[-1][1] if uncovered else None,
    )


def candidates(observations: list[dict[str, Any]]) -> list[Candidate]:
    """Every yearly figure the observations support, with its evidence rank."""
    out: list[Candidate] = []
    groups: dict[tuple, list[dict]] = {}
    for o in observations:
        unit = o.get("unit")
        if (
            o.get("is_target")
            or o.get("is_stock")
            or o.get("not_computed") is True
            or unit not in (*PEOPLE_UNITS, *FLOW_UNITS)
        ):
            continue
        start, end, value = _d(o.get("period_start")), _d(o.get("period_end")), o.get("value")
        if start is None or end is None or value is None or value != value or end < start:
            continue
        declared = o.get("source") == DECLARED
        year, inside, total = _majority_year(start, end)
        base = dict(
            startup_id=o["startup_id"],
            unit=unit,
            kind=_kind(unit),
            source=o["source"],
            source_ref=o["source_ref"],
            evidence_url=o.get("evidence_url"),
            indicator=o.get("indicator") or "",
        )
        if 360 <= total <= 366:
            if start == date(year, 1, 1) and end == date(year, 12, 31):
                note = f"{o.get('indicator')} for the calendar year {year}"
            else:
                note = (
                    f"{o.get('indicator')} over 12 months {start}→{end}, attributed to {year} "
                    f"({inside} of {total} days in {year}; not prorated)"
                )
            rank = "declared" if declared else "measured_users" if unit in PEOPLE_UNITS else "measured_uses"
            out.append(
                Candidate(
                    year=year,
                    value=float(value),
                    rank=rank,
                    upper_bound=False,
                    note=note,
                    period_start=start,
                    period_end=end,
                    **base,
                )
            )
        elif total < 360 and not declared and start.year == end.year:  # a period across two years is in neither
            key = (o["startup_id"], o["source"], o["source_ref"], o.get("indicator"), unit, year)
            groups.setdefault(key, []).append({**o, "_start": start, "_end": end})
    for key, rows in groups.items():
        summed = _sum_inside(*key, rows)
        if summed is not None:
            out.append(summed)
    return out


def _describe(c: Candidate) -> dict[str, Any]:
    return {
        "value": c.value,
        "unit": c.unit,
        "kind": c.kind,
        "evidence_rank": c.rank,
        "source": c.source,
        "source_ref": c.source_ref,
        "period": f"{c.period_start}/{c.period_end}",
        "lower_bound": c.lower_bound,
        "note": c.note,
    }


def yearly_reach(
    observations: list[dict[str, Any]],
    ranking: tuple[str, ...] = DEFAULT_RANKING,
    is_public: Any = None,
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """One row per (service, year): the best-ranked figure; within a rank, one with a public evidence URL,
    then the largest (each figure is a measure of the same service's reach), then by source for determinism.

    With `threshold`: when the best figure has no public evidence URL (it cannot pass (b)), the best-ranked
    figure that has one and meets the threshold decides instead, and `top_figure` describes the one set aside.
    """
    import json

    order = {r: i for i, r in enumerate(ranking)}
    is_public = is_public or (lambda url: bool(url))
    by_key: dict[tuple[str, int], list[Candidate]] = {}
    for c in candidates(observations):
        if c.rank in order:
            by_key.setdefault((c.startup_id, c.year), []).append(c)

    def rank(c: Candidate) -> tuple:
        return (order[c.rank], not is_public(c.evidence_url), -c.value, c.source, c.source_ref, c.indicator)

    rows = []
    for (sid, year), cands in sorted(by_key.items()):
        best = top = min(cands, key=rank)
        if threshold is not None and not is_public(top.evidence_url):
            public = [c for c in cands if is_public(c.evidence_url) and c.value >= threshold]
            best = min(public, key=rank) if public else top
        others = sorted({f"{c.rank} {_fmt(c.value)} {c.kind} ({c.source})" for c in cands if c is not best})
        note = best.note + (f"; other figures: {', '.join(others)}" if others else "")
        rows.append(
            {
                "startup_id": sid,
                "year": year,
                "value": best.value,
                "unit": best.unit,
                "kind": best.kind,
                "evidence_rank": best.rank,
                "source": best.source,
                "source_ref": best.source_ref,
                "evidence_url": best.evidence_url,
                "upper_bound": best.upper_bound,
                "n_candidates": len(cands),
                "note": note,
                "period_start": best.period_start,
                "period_end": best.period_end,
                "lower_bound": best.lower_bound,
                "coverage": best.coverage,
                "last_uncovered_day": best.last_uncovered_day,
                "top_figure": json.dumps(_describe(top), ensure_ascii=False) if top is not best else None,
            }
        )
    return rows
