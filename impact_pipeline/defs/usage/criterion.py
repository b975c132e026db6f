"""Criterion (b), significant impact, as a rule over `yearly_reach` and `usage_source_status`.

pass: the year's best figure meets the threshold (criteria config) and has a public evidence URL;
fail: it is below the threshold; unknown: no figure (saying why: no source, a source down, no data for
the year), or a figure meeting the threshold without a public evidence URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas stays out of the code location's import time
    import pandas as pd

    from impact_pipeline.defs.impact.criteria_config import CriteriaConfig

# Asset keys criterion (b) reads; the yearly evaluation depends on them.
DEPS: list[str] = ["yearly_reach"]

KIND_WORDS = {"users": "people", "uses": "uses", "visits": "visits"}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _day(value: Any) -> str | None:
    """ISO date of a date, datetime or pandas Timestamp (DuckDB DATE columns arrive as Timestamps)."""
    if value is None or value != value:
        return None
    return value.date().isoformat() if hasattr(value, "hour") else str(value)[:10]


def describe(source: str, source_ref: str) -> str:
    """How a source is named in a reason: `matomo stats.example.org site 12`, `declared by <who>`."""
    return f"declared by {source_ref}" if source == "declared" else f"{source} {source_ref}"


def threshold_of(config: CriteriaConfig) -> float:
    return float(config.min_yearly_reach)


def _table_exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])


def judge(year: int, reach: dict[str, Any] | None, runs: list[dict[str, Any]], threshold: float,
          no_source_reason: str, is_public) -> tuple[str, str, dict[str, Any]]:
    """(verdict, reason, evidence) for one service and year."""
    evidence: dict[str, Any] = {
        "value": None, "unit": None, "kind": None, "threshold": threshold, "source": None, "source_ref": None,
        "evidence_url": None, "evidence_rank": None, "period": None, "upper_bound": False, "year": year,
    }
    if reach is None:
        down = [r for r in runs if r["status"] == "error"]
        if down:
            why = "; ".join(f"source {r['source']} down: {r['error']}" for r in down)
        elif runs:
            listed = ", ".join(sorted({describe(r["source"], r["source_ref"]) for r in runs}))
            why = f"{listed} {'has' if len(runs) == 1 else 'have'} no figure covering the year"
        else:
            why = no_source_reason
        evidence.update(note=why, sources=[{k: r[k] for k in ("source", "source_ref", "status", "error")} for r in runs])
        return "unknown", f"(b) unknown: no usage figure for {year} ({why}).", evidence

    value = float(reach["value"])
    url = reach.get("evidence_url")
    public = is_public(url)
    kind = reach["kind"]
    words = KIND_WORDS.get(kind, kind)
    where = describe(reach["source"], reach["source_ref"])
    start, end = _day(reach.get("period_start")), _day(reach.get("period_end"))
    period = f"{start}/{end}" if start and end else None
    evidence.update(
        value=value, unit=reach["unit"], kind=kind, source=reach["source"], source_ref=reach["source_ref"],
        evidence_url=url if public else None, evidence_rank=reach["evidence_rank"], period=period,
        upper_bound=bool(reach["upper_bound"]), note=reach.get("note"), n_candidates=int(reach["n_candidates"]),
    )
    if reach["upper_bound"]:
        figure = f"at most {_fmt(value)} {words} in {year} ({reach['note']}; {where})"
    elif reach["evidence_rank"] == "declared":
        figure = f"{_fmt(value)} {words} in {year} ({where})"
    else:
        span = "" if period in (None, f"{year}-01-01/{year}-12-31") else f", 12 months {start}→{end}"
        figure = f"{_fmt(value)} {'people' if kind == 'users' else 'yearly ' + words} in {year} ({where}{span})"
    limit = _fmt(threshold)
    if value < threshold:
        return "fail", f"(b) fails: {figure} is below the threshold of {limit}.", evidence
    if not public:
        return ("unknown", f"(b) unknown: {figure} meets the threshold of {limit} but has no public evidence URL.",
                evidence)
    return "pass", f"(b) pass: {figure} meets the threshold of {limit} (evidence: {url}).", evidence


def criterion_b(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """Rows (year, startup_id, criterion='b', verdict, reason, evidence: dict) for every key."""
    import pandas as pd

    from impact_pipeline.lib.urls import public_http_url

    threshold = threshold_of(config)
    reach: dict[tuple[str, int], dict] = {}
    if _table_exists(con, "yearly_reach"):
        frame = con.execute("SELECT * FROM yearly_reach").df()
        for r in frame.to_dict("records"):
            reach[(r["startup_id"], int(r["year"]))] = r
    runs: dict[str, list[dict]] = {}
    if _table_exists(con, "usage_source_status"):
        for r in con.execute(
            "SELECT startup_id, source, source_ref, status, error FROM usage_source_status "
            "WHERE startup_id IS NOT NULL ORDER BY source, source_ref"
        ).df().to_dict("records"):
            runs.setdefault(r["startup_id"], []).append(r)
    rows = []
    for k in keys[["year", "startup_id"]].itertuples(index=False):
        year = int(k.year)
        verdict, reason, evidence = judge(
            year, reach.get((k.startup_id, year)), runs.get(k.startup_id, []), threshold, config.no_usage_reason,
            lambda url: public_http_url(url) is not None,
        )
        rows.append((year, k.startup_id, "b", verdict, reason, evidence))
    return pd.DataFrame(rows, columns=["year", "startup_id", "criterion", "verdict", "reason", "evidence"])
