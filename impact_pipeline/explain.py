"""`impact-pipeline explain <startup_id> [--year Y]`: why a service does or does not meet the criteria.

Reads the published DuckDB file read-only and prints, for a person, each criterion's verdict with its
reason and evidence (sources, URLs, values, thresholds) and the official designation beside it. Without
`--year`: the history across years, compactly, then the latest year in detail.
"""

from __future__ import annotations

import difflib
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any, TextIO

from impact_pipeline.defs.reporting.data import (
    CRITERIA,
    STATUS_DESIGNATED_NOT_MEETING,
    STATUS_MEETING_NOT_DESIGNATED,
    NoPublishedData,
    connect_published,
    read_services,
    rows_as_dicts,
)
from impact_pipeline.defs.reporting.labels import CRITERIA_TITLES

EXIT_USAGE = 2


def terminal_safe(text: str) -> str:
    """`text` with every control or format character escaped (`\\x1b`, `\\u202e`) except newlines: a name
    from the public registry must not retitle, clear or reorder the reader's terminal."""

    def escaped(ch: str) -> str:
        if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"):
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return "".join(escaped(ch) for ch in text)


class UnknownStartup(LookupError):
    def __init__(self, query: str, suggestions: list[tuple[str, str]]):
        self.query = query
        self.suggestions = suggestions
        if suggestions:
            shown = ", ".join(f"{sid} ({name})" if name and name != sid else sid for sid, name in suggestions)
            text = f"unknown startup {query!r}; did you mean: {shown}?"
        else:
            text = f"unknown startup {query!r}; no close match (ids are in the `startups` table)"
        super().__init__(text)


def close_matches(query: str, startups: list[tuple[str, str]], n: int = 5) -> list[tuple[str, str]]:
    """Ids whose id or name is close to `query` (difflib), or contains it; best first."""
    q = query.casefold().strip()
    by_id = {sid.casefold(): (sid, name) for sid, name in startups}
    by_name: dict[str, tuple[str, str]] = {}
    for sid, name in startups:
        if name:
            by_name.setdefault(name.casefold(), (sid, name))
    found: list[tuple[str, str]] = []
    for key in difflib.get_close_matches(q, list(by_id), n=n, cutoff=0.6):
        found.append(by_id[key])
    for key in difflib.get_close_matches(q, list(by_name), n=n, cutoff=0.6):
        found.append(by_name[key])
    if len(q) >= 3:
        found += [v for k, v in by_id.items() if q in k] + [v for k, v in by_name.items() if q in k]
    unique: list[tuple[str, str]] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique[:n]


def _scalar(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"
    return str(value)


def evidence_lines(value: Any, indent: int) -> list[str]:
    """Evidence of any shape as indented `key: value` lines (nested mappings indented further)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [f"{pad}(none)"]
        lines = []
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append(f"{pad}{key}:")
                lines += evidence_lines(item, indent + 2)
            elif isinstance(item, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in item):
                lines.append(f"{pad}{key}:")
                for v in item:
                    sub = evidence_lines(v, indent + 4)
                    lines.append(f"{pad}  - {sub[0].strip()}")
                    lines += sub[1:]
            elif isinstance(item, (list, tuple)):
                lines.append(f"{pad}{key}: {', '.join(_scalar(v) for v in item) or '(none)'}")
            elif isinstance(item, int) and not isinstance(item, bool) and str(key).endswith("year"):
                lines.append(f"{pad}{key}: {item}")  # a year, not a quantity: no thousands separator
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return lines
    return [f"{pad}{_scalar(value)}"]


def designation_text(designation_year: int | None, year: int) -> str:
    if designation_year is None:
        return "never officially designated"
    if designation_year == year:
        return f"officially designated for {year}"
    if designation_year < year:
        return f"officially designated earlier, for {designation_year}"
    return f"not designated yet in {year} (designated later, for {designation_year})"


def _detail(row: dict[str, Any]) -> list[str]:
    year = row["year"]
    meets = bool(row["meets_criteria"])
    lines = [
        f"{year} in detail (criteria version {row['criteria_version']})",
        f"  Phase at the end of {year}: {row['phase_at_year_end'] or 'unknown'}",
        f"  Meets the criteria: {'YES' if meets else 'NO'} (all three must pass; unknown is never a pass)",
        f"  Designation: {designation_text(row['designation_year'], year)}",
    ]
    if row["status"] == STATUS_DESIGNATED_NOT_MEETING:
        lines.append("  Review: designated, but does not meet the criteria this year.")
    elif row["status"] == STATUS_MEETING_NOT_DESIGNATED:
        lines.append("  Review: meets the criteria, but is not designated.")
    for c in CRITERIA:
        verdict = row[f"criterion_{c}"]
        lines.append("")
        lines.append(f"  ({c}) {CRITERIA_TITLES[c]}: {str(verdict).upper()}")
        reason = row["criterion_reasons"].get(c)
        if reason:
            lines.append(f"      {reason}")
        lines.append("      evidence:")
        lines += evidence_lines(row["evidence"].get(c), 8)
    return lines


def _history(rows: list[dict[str, Any]]) -> list[str]:
    header = f"  {'year':<6}{'phase at year end':<24}{'(a)':<9}{'(b)':<9}{'(c)':<9}{'meets':<7}designation"
    lines = ["History (pass / fail / unknown per criterion):", header]
    for r in rows:
        dy = r["designation_year"]
        note = "designated for this year" if dy == r["year"] else ("designated" if r["officially_designated"] else "")
        lines.append(
            f"  {r['year']:<6}{(r['phase_at_year_end'] or 'unknown'):<24}{r['criterion_a']:<9}{r['criterion_b']:<9}"
            f"{r['criterion_c']:<9}{'yes' if r['meets_criteria'] else 'no':<7}{note}".rstrip()
        )
    return lines


def never_evaluated_cause(con, startup_id: str, first_phase_start) -> str:
    """Why a service of the registry has no evaluated year, from what the published file holds."""
    evaluated = con.execute("SELECT min(year), max(year) FROM national_impact").fetchone()
    n_phases = con.execute("SELECT count(*) FROM startup_phases WHERE startup_id = ?", [startup_id]).fetchone()[0]
    if first_phase_start is not None and evaluated[0] is not None:
        start_year = first_phase_start.year
        if start_year > evaluated[1]:
            return (
                f"its first phase starts on {first_phase_start}, after the evaluated years "
                f"({evaluated[0]}–{evaluated[1]}); it is judged once a run covers {start_year}."
            )
        return (
            f"its first phase starts on {first_phase_start}, yet no evaluated year ({evaluated[0]}–{evaluated[1]}) "
            "holds it; a run of those years has not been published since it was added."
        )
    if not n_phases:
        return "the registry lists no phase for it, so it has no phase at the end of any year."
    findings = con.execute(
        "SELECT field, value, problem FROM registry_findings WHERE startup_id = ? ORDER BY field LIMIT 5", [startup_id]
    ).fetchall()
    listed = "; ".join(f"{field} {value!r}: {problem}" for field, value, problem in findings)
    return f"none of its {n_phases} phases has a valid start date" + (
        f" (registry_findings: {listed})." if listed else "."
    )


def explain(con, startup_id: str, year: int | None = None) -> str:
    """The explanation text; raises UnknownStartup, or LookupError for a year that was not evaluated."""
    known = rows_as_dicts(con, "SELECT startup_id, name, link, first_phase_start FROM startups ORDER BY startup_id")
    match = next((s for s in known if s["startup_id"] == startup_id), None)
    if match is None:
        raise UnknownStartup(startup_id, close_matches(startup_id, [(s["startup_id"], s["name"]) for s in known]))
    rows = read_services(con, startup_id=startup_id)
    title = f"{match['name']} ({startup_id})"
    lines = [title, "=" * len(title)]
    if match.get("link"):
        lines.append(f"Product: {match['link']}")
    if not rows:
        lines.append("Never evaluated: " + never_evaluated_cause(con, startup_id, match.get("first_phase_start")))
        return "\n".join(lines) + "\n"
    designation_year = rows[-1]["designation_year"]
    lines.append(
        f"Official designation: for {designation_year}."
        if designation_year is not None
        else "Official designation: never designated."
    )
    if year is None:
        lines += ["", *_history(rows), ""]
        chosen = rows[-1]
    else:
        chosen = next((r for r in rows if r["year"] == year), None)
        if chosen is None:
            years = [r["year"] for r in rows]
            raise LookupError(f"{startup_id} was not evaluated in {year}; evaluated years: {years[0]}–{years[-1]}")
        lines.append("")
    lines += _detail(chosen)
    lines += _backtest(con, chosen)
    return "\n".join(lines) + "\n"


def _backtest(con, row: dict[str, Any]) -> list[str]:
    """The year's agreement with the committee (designation_backtest), and where this service stands in it."""
    year = row["year"]
    found = rows_as_dicts(con, "SELECT * FROM designation_backtest WHERE year = ?", [year])
    if not found:
        return []
    bt = found[0]
    share = bt["share_designated_meeting"]
    lines = [
        "",
        f"  Backtest {year}: {bt['n_designated_meeting']} of {bt['n_designated']} services designated for {year} "
        f"meet the criteria"
        + (f" ({share * 100:.0f} %)" if share is not None else "")
        + f"; {bt['n_meeting']} meet them in all, {bt['n_meeting_not_designated']} without being designated.",
    ]
    disagreements = (
        bt["disagreements"] if isinstance(bt["disagreements"], list) else json.loads(bt["disagreements"] or "[]")
    )
    mine = next((d for d in disagreements if d["startup_id"] == row["startup_id"]), None)
    if mine:
        decided = f", decided by ({mine['deciding_criterion']}) {mine['verdict']}" if mine["deciding_criterion"] else ""
        lines.append(f"  This service is a disagreement: {mine['kind']}{decided}.")
    return lines


def run(
    db_path: str | Path, startup_id: str, year: int | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The `explain` command: 0 when explained, 2 for an unknown id or year, 1 without published data."""
    try:
        con = connect_published(db_path)
    except NoPublishedData as exc:
        print(terminal_safe(f"impact-pipeline explain: {exc}"), file=err)
        return 1
    try:
        text = explain(con, startup_id, year)
    except UnknownStartup as exc:
        print(terminal_safe(str(exc)), file=err)
        return EXIT_USAGE
    except LookupError as exc:
        print(terminal_safe(str(exc.args[0])), file=err)
        return EXIT_USAGE
    finally:
        con.close()
    out.write(terminal_safe(text))
    return 0
