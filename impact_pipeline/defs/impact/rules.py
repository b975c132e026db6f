"""The criteria of the policy as pure rules over the registry tables (no Dagster, no I/O but DuckDB).

Criterion (a) reads the phase at the end of the year; (b) and (c) are `unknown` until their sources
land. The official designation is computed beside the verdict and never read by a criterion.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from impact_pipeline.defs.impact.criteria_config import CriteriaConfig
from impact_pipeline.defs.registry.phases import LIFECYCLE_RANK

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
CRITERIA = ("a", "b", "c")


def evidence_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace drift): two identical runs give identical bytes."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ": "))


def phase_at_year_end(con: duckdb.DuckDBPyConnection, years: list[int]) -> pd.DataFrame:
    """For each year and startup with a phase started by Dec 31, the phase in force that day.

    Latest start on or before the date wins; on a tie, the phase furthest along the lifecycle
    (unknown names rank lowest), then the later entry in the registry's list.
    """
    ranks = pd.DataFrame({"phase_normalized": list(LIFECYCLE_RANK), "lifecycle_rank": list(LIFECYCLE_RANK.values())})
    year_frame = pd.DataFrame({"year": [int(y) for y in years]})
    con.register("_ranks", ranks)
    con.register("_years", year_frame)
    try:
        return con.execute(
            """
            SELECT year, startup_id, phase, phase_normalized, start_date
            FROM (
                SELECT y.year, p.startup_id, p.phase, p.phase_normalized, p.start_date,
                       row_number() OVER (
                           PARTITION BY y.year, p.startup_id
                           ORDER BY p.start_date DESC, coalesce(r.lifecycle_rank, -1) DESC, p.position DESC
                       ) AS rn
                FROM _years y
                JOIN startup_phases p ON p.start_date <= make_date(y.year::BIGINT, 12, 31)
                LEFT JOIN _ranks r ON r.phase_normalized = p.phase_normalized
            )
            WHERE rn = 1
            ORDER BY year, startup_id
            """
        ).df()
    finally:
        con.unregister("_ranks")
        con.unregister("_years")


def criterion_a(phases: pd.DataFrame, config: CriteriaConfig, source: dict[str, Any]) -> pd.DataFrame:
    """(a) national deployment: pass when the phase at the end of the year is a qualifying one."""
    qualifying = set(config.qualifying_phases)
    listed = ", ".join(config.qualifying_phases)
    rows = []
    for r in phases.itertuples(index=False):
        start = pd.Timestamp(r.start_date).date().isoformat()  # DuckDB DATE arrives as a Timestamp
        norm = r.phase_normalized if isinstance(r.phase_normalized, str) else None
        shown = f"'{norm}'" if norm == r.phase else f"'{norm}' (published '{r.phase}')"
        if norm is None:
            verdict = UNKNOWN
            reason = (
                f"(a) unknown: the phase at the end of {r.year} is '{r.phase}' (since {start}), "
                "a name in neither phase vocabulary."
            )
        elif norm in qualifying:
            verdict = PASS
            reason = f"(a) pass: phase {shown} at the end of {r.year} (since {start}) is a qualifying phase."
        else:
            verdict = FAIL
            reason = (
                f"(a) fails: the phase at the end of {r.year} was {shown} (since {start}), "
                f"not a qualifying phase ({listed})."
            )
        evidence = {
            "phase_at_year_end": norm,
            "phase_published": r.phase,
            "phase_start": start,
            "qualifying_phases": list(config.qualifying_phases),
            **source,
        }
        rows.append((int(r.year), r.startup_id, "a", verdict, reason, evidence))
    return pd.DataFrame(rows, columns=["year", "startup_id", "criterion", "verdict", "reason", "evidence"])


def criterion_without_source(keys: pd.DataFrame, criterion: str, reason_text: str) -> pd.DataFrame:
    """A criterion whose sources are not connected: `unknown` for everyone, never `pass` by default."""
    out = keys[["year", "startup_id"]].copy()
    out["criterion"] = criterion
    out["verdict"] = UNKNOWN
    out["reason"] = f"({criterion}) unknown: {reason_text}."
    out["evidence"] = [{"source": None, "note": reason_text}] * len(out)
    return out


def designations(events: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """Official designations: one row per designated startup, with the year it was designated for.

    A startup is designated once; if the registry carries several events, the earliest counts.
    """
    ev = events[(events["name"] == config.designation_event) & events["event_date"].notna()]
    rows: dict[str, tuple] = {}
    for r in ev.sort_values(["startup_id", "event_date", "position"]).itertuples(index=False):
        if r.startup_id in rows:
            continue
        d = pd.Timestamp(r.event_date)
        rows[r.startup_id] = (r.startup_id, d.date(), config.designation_year(d.year, d.month))
    return pd.DataFrame(list(rows.values()), columns=["startup_id", "event_date", "designation_year"])


def evaluate(
    con: duckdb.DuckDBPyConnection, years: list[int], config: CriteriaConfig, source: dict[str, Any]
) -> pd.DataFrame:
    """The long evaluation table for `years`: one row per (year, startup, criterion)."""
    phases = phase_at_year_end(con, years)
    a = criterion_a(phases, config, source)
    keys = a[["year", "startup_id"]].copy()
    # (b) and (c) live with their sources; they see the same keys and never read the designation.
    from impact_pipeline.defs.quality.criterion import criterion_c
    from impact_pipeline.defs.usage.criterion import criterion_b

    b = criterion_b(con, keys, config)
    c = criterion_c(con, keys, config)
    out = pd.concat([a, b, c], ignore_index=True)
    out["evidence"] = out["evidence"].map(evidence_json)
    out["criteria_version"] = config.version
    return out.sort_values(["year", "startup_id", "criterion"], ignore_index=True)


def national_impact(
    evaluation: pd.DataFrame, startups: pd.DataFrame, designated: pd.DataFrame, phases: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The published table: criteria side by side, the verdict, and the official designation beside it."""
    columns = [
        "year", "startup_id", "name", "phase_at_year_end", "criterion_a", "criterion_b", "criterion_c",
        "meets_criteria", "officially_designated", "designation_year", "reasons", "evidence", "criteria_version",
    ]
    if evaluation.empty:
        return pd.DataFrame(columns=columns)
    wide = evaluation.pivot(index=["year", "startup_id"], columns="criterion", values=["verdict", "reason", "evidence"])
    out = pd.DataFrame(index=wide.index).reset_index()
    # Whole columns at once (no per-cell DataFrame access: this table has a row per service and year).
    verdicts = {c: wide[("verdict", c)].to_numpy(dtype=object) for c in CRITERIA}
    texts = {c: wide[("reason", c)].to_numpy(dtype=object) for c in CRITERIA}
    proofs = {c: wide[("evidence", c)].to_numpy(dtype=object) for c in CRITERIA}
    for c in CRITERIA:
        out[f"criterion_{c}"] = verdicts[c]
    out["meets_criteria"] = (out[[f"criterion_{c}" for c in CRITERIA]] == PASS).all(axis=1)
    out["reasons"] = [
        " ".join(reason for verdict, reason in zip(vs, rs) if verdict != PASS)
        for vs, rs in zip(zip(*(verdicts[c] for c in CRITERIA)), zip(*(texts[c] for c in CRITERIA)))
    ]
    # Each criterion's evidence is already `evidence_json` text (sorted keys, same separators), and JSON
    # encoding composes: wrapping them under their sorted keys gives the bytes `evidence_json` would.
    out["evidence"] = [
        "{" + ",".join(f'"{c}": {e}' for c, e in zip(CRITERIA, parts)) + "}"
        for parts in zip(*(proofs[c] for c in CRITERIA))
    ]
    out["phase_at_year_end"] = [json.loads(e).get("phase_at_year_end") for e in proofs["a"]]
    versions = evaluation.groupby(["year", "startup_id"])["criteria_version"].first()
    out["criteria_version"] = versions.reindex(pd.MultiIndex.from_frame(out[["year", "startup_id"]])).to_numpy()
    out = out.merge(startups[["startup_id", "name"]], on="startup_id", how="left")
    out = out.merge(designated[["startup_id", "designation_year"]], on="startup_id", how="left")
    out["designation_year"] = out["designation_year"].astype("Int64")
    out["officially_designated"] = (out["designation_year"].notna() & (out["designation_year"] <= out["year"])).astype(bool)
    return out[columns].sort_values(["year", "startup_id"], ignore_index=True)


def summary(table: pd.DataFrame, designated: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """One row per year: stock meeting the criteria, first-time, designations (flow and cumulative)."""
    rows = []
    for year in sorted(int(y) for y in years):
        this = table[table["year"] == year]
        earlier_meeting = set(table[(table["year"] < year) & table["meets_criteria"]]["startup_id"])
        meeting = set(this[this["meets_criteria"]]["startup_id"])
        designated_upto = set(designated[designated["designation_year"] <= year]["startup_id"])
        versions = sorted(set(this["criteria_version"].dropna()))
        rows.append(
            {
                "year": year,
                "n_evaluated": len(this),
                "n_meeting_criteria": len(meeting),
                "n_first_meeting": len(meeting - earlier_meeting),
                "n_designated_in_year": int((designated["designation_year"] == year).sum()),
                "n_designated_cumulative": len(designated_upto),
                "n_designated_not_meeting": len(designated_upto - meeting),
                "n_meeting_not_designated": len(meeting - designated_upto),
                "criteria_version": ",".join(versions),
            }
        )
    return pd.DataFrame(rows)
