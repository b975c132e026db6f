"""Read what the chart, the yearly report and `explain` show, from the *published* DuckDB file only.

Everything here takes an open DuckDB connection (read-only in practice) and returns plain Python
values, so the rendering functions stay pure and testable on a hand-made file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impact_pipeline.defs.reporting.coverage import read_coverage

CRITERIA = ("a", "b", "c")

# Status of a service in a year, in the order the report lists them (review lists first).
STATUS_DESIGNATED_NOT_MEETING = "designated, not meeting the criteria"
STATUS_MEETING_NOT_DESIGNATED = "meeting the criteria, not designated"
STATUS_MEETING_DESIGNATED = "meeting the criteria, designated"
STATUS_OTHER = "not meeting the criteria"
STATUS_ORDER = (
    STATUS_DESIGNATED_NOT_MEETING,
    STATUS_MEETING_NOT_DESIGNATED,
    STATUS_MEETING_DESIGNATED,
    STATUS_OTHER,
)


class NoPublishedData(RuntimeError):
    """The published DuckDB file is missing or holds no evaluated year."""


def connect_published(path: str | Path):
    """Open the published file read-only (never blocks a run: publication replaces the file atomically)."""
    import duckdb

    path = Path(path)
    if not path.exists():
        raise NoPublishedData(f"no published data at {path}: run `impact-pipeline materialize` first")
    return duckdb.connect(str(path), read_only=True)


def rows_as_dicts(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _evidence(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {"unparsed": value}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def status_of(meets: bool, designated: bool) -> str:
    if designated and not meets:
        return STATUS_DESIGNATED_NOT_MEETING
    if meets and not designated:
        return STATUS_MEETING_NOT_DESIGNATED
    if meets:
        return STATUS_MEETING_DESIGNATED
    return STATUS_OTHER


def read_summary(con) -> list[dict[str, Any]]:
    """Every published year of `national_impact_summary`, oldest first."""
    return rows_as_dicts(con, "SELECT * FROM national_impact_summary ORDER BY year")


def read_publication(con) -> dict[str, Any]:
    rows = rows_as_dicts(con, "SELECT * FROM publish_log ORDER BY published_at DESC LIMIT 1")
    return rows[0] if rows else {}


def read_services(con, year: int | None = None, startup_id: str | None = None) -> list[dict[str, Any]]:
    """`national_impact` rows (one per service and year) with each criterion's own reason and the product link."""
    where, params = [], []
    if year is not None:
        where.append("n.year = ?")
        params.append(int(year))
    if startup_id is not None:
        where.append("n.startup_id = ?")
        params.append(startup_id)
    rows = rows_as_dicts(
        con,
        f"""SELECT n.*, s.link, s.stats_url, s.repository
            FROM national_impact n LEFT JOIN startups s USING (startup_id)
            {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY n.year, n.name, n.startup_id""",
        params,
    )
    reasons: dict[tuple[int, str], dict[str, str]] = {}
    for r in rows_as_dicts(
        con,
        f"""SELECT n.year, n.startup_id, e.criterion, e.reason
            FROM criteria_evaluation e JOIN national_impact n USING (year, startup_id)
            {"WHERE " + " AND ".join(where) if where else ""}""",
        params,
    ):
        reasons.setdefault((r["year"], r["startup_id"]), {})[r["criterion"]] = r["reason"]
    for row in rows:
        row["evidence"] = _evidence(row.get("evidence"))
        row["criterion_reasons"] = reasons.get((row["year"], row["startup_id"]), {})
        row["short"] = {
            c: short_label(c, row[f"criterion_{c}"], row["criterion_reasons"].get(c, ""), row["evidence"].get(c))
            for c in CRITERIA
        }
        row["status"] = status_of(bool(row["meets_criteria"]), bool(row["officially_designated"]))
    return rows


# Sub-criteria of (c) by their short names in a label.
_SUB_SHORT = {
    "observatoire_goals": "observatoire",
    "accessibility": "accessibility",
    "product_evolving": "evolving",
    "resources_shared": "shared",
    "impact_statistics": "stats page",
    "team_answering": "support",
}


def _figure(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


def short_label(criterion: str, verdict: str, reason: str, evidence: Any) -> str:
    """A few words saying why, for a table cell (the full reason is one click away)."""
    ev = evidence if isinstance(evidence, dict) else {}
    if criterion == "a":
        phase = ev.get("phase_at_year_end")
        return f"phase {phase}" if phase else "no phase"
    if criterion == "b":
        if ev.get("value") is None:
            return "no usage source" if "no usage source" in reason else "no figure"
        unit = f" {ev['unit']}" if ev.get("unit") else ""
        sign = "≥" if verdict == "pass" or (verdict == "unknown" and "evidence url" in reason.lower()) else "<"
        label = f"{_figure(ev['value'])}{unit} {sign} {_figure(ev.get('threshold'))}"
        return label + (" (no public URL)" if verdict == "unknown" else "")
    if criterion == "c":
        subs = ev.get("sub_criteria") if isinstance(ev.get("sub_criteria"), dict) else {}
        verdicts = {k: (v.get("verdict") if isinstance(v, dict) else None) for k, v in subs.items()}
        failing = [_SUB_SHORT.get(k, k) for k, v in verdicts.items() if v == "fail"]
        if failing:
            return "fails: " + ", ".join(failing)
        if "no quality source" in reason:
            return "no quality source"
        lacking = [_SUB_SHORT.get(k, k) for k in ev.get("required") or [] if verdicts.get(k) != "pass"]
        if lacking:
            return "lacks: " + ", ".join(lacking)
        return "all required pass" if verdict == "pass" else verdict
    return verdict


@dataclass
class YearData:
    """Everything the report of one year shows."""

    year: int
    summary: dict[str, Any]
    all_summary: list[dict[str, Any]]
    services: list[dict[str, Any]]
    designated_not_meeting: list[dict[str, Any]]
    meeting_not_designated: list[dict[str, Any]]
    designated_in_year: list[dict[str, Any]]
    publication: dict[str, Any] = field(default_factory=dict)
    usage_coverage: dict[str, Any] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)  # criterion -> coverage.CriterionCoverage
    registry_date: str = ""  # the day the registry's current content was first fetched
    backtest: list[dict[str, Any]] = field(default_factory=list)  # designation_backtest, every year

    @property
    def disagreements(self) -> list[dict[str, Any]]:
        """The year's disagreements with the committee (designation_backtest), none when the year has no row."""
        return next((r["disagreements"] for r in self.backtest if int(r["year"]) == self.year), [])

    @property
    def verdict_counts(self) -> dict[str, dict[str, int]]:
        counts = {c: {"pass": 0, "fail": 0, "unknown": 0} for c in CRITERIA}
        for s in self.services:
            for c in CRITERIA:
                v = s[f"criterion_{c}"]
                counts[c][v] = counts[c].get(v, 0) + 1
        return counts


def read_year(con, year: int, all_summary: list[dict[str, Any]] | None = None) -> YearData:
    """One year's report data; the review lists come from the analyst views, so both always agree."""
    all_summary = read_summary(con) if all_summary is None else all_summary
    summary = next((s for s in all_summary if int(s["year"]) == int(year)), None)
    if summary is None:
        raise NoPublishedData(f"year {year} is not in the published data")
    services = read_services(con, year=year)
    services.sort(key=lambda s: (STATUS_ORDER.index(s["status"]), str(s["name"]).casefold(), s["startup_id"]))
    return YearData(
        year=int(year),
        summary=summary,
        all_summary=all_summary,
        services=services,
        designated_not_meeting=rows_as_dicts(
            con, "SELECT * FROM review_designated_not_meeting WHERE year = ? ORDER BY name, startup_id", [int(year)]
        ),
        meeting_not_designated=rows_as_dicts(
            con, "SELECT * FROM review_meeting_not_designated WHERE year = ? ORDER BY name, startup_id", [int(year)]
        ),
        designated_in_year=[s for s in services if s["designation_year"] == int(year)],
        publication=read_publication(con),
        usage_coverage=read_usage_coverage(con),
        coverage=read_coverage(con, int(year)),
        registry_date=read_registry_date(con),
        backtest=read_backtest(con),
    )


def read_usage_coverage(con) -> dict[str, Any]:
    """Counts of the `usage_coverage` view: services with no usage source at all, and the designated ones among them
    (the first to review); {} for a file written before the view existed."""
    try:
        rows = rows_as_dicts(
            con,
            "SELECT startup_id, officially_designated, no_source, n_discovered_in_use, n_proposals "
            "FROM usage_coverage ORDER BY startup_id",
        )
    except Exception:  # noqa: BLE001 - an older published file: no coverage block
        return {}
    none = [r for r in rows if r["no_source"]]
    return {
        "n_services": len(rows),
        "n_no_source": len(none),
        "designated_no_source": [r["startup_id"] for r in none if r["officially_designated"]],
        "n_with_discovered": sum(1 for r in rows if r["n_discovered_in_use"]),
        "n_proposals": sum(r["n_proposals"] for r in rows),
    }


def read_registry_date(con) -> str:
    """The day the registry's current content was first fetched: it changes when the registry does, not with
    every nightly check (so an unchanged page is not rendered again)."""
    row = con.execute(
        """SELECT min(fetched_at) FROM registry_raw
           WHERE sha256 = (SELECT arg_max(sha256, [epoch_us(coalesce(observed_at, fetched_at)), epoch_us(fetched_at)])
                           FROM registry_raw)"""
    ).fetchone()  # the latest observation, not a history document stored later
    return row[0].strftime("%Y-%m-%d") if row and row[0] is not None else ""


def read_backtest(con) -> list[dict[str, Any]]:
    """The designation_backtest view, disagreements as lists; [] for a file written before the view existed."""
    try:
        rows = rows_as_dicts(con, "SELECT * FROM designation_backtest ORDER BY year")
    except Exception:  # noqa: BLE001 - an older published file: no backtest block
        return []
    for r in rows:
        value = r["disagreements"]
        r["disagreements"] = value if isinstance(value, list) else json.loads(value or "[]")
    return rows
