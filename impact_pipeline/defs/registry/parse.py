"""Turn a registry document (JSON:API v2.5) into the registry tables, recording what is wrong.

Pure functions: no I/O, no Dagster. A malformed document raises `RegistryFormatError`; a malformed
record or field becomes a finding and the rest is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from impact_pipeline import contract
from impact_pipeline.defs.registry.phases import PhaseEntry, normalize_phase, phase_at
from impact_pipeline.lib.urls import refused_scheme

MAX_TEXT = 10_000  # longer free-text values are cut (and reported): a registry field is never a book


class RegistryFormatError(ValueError):
    """The document is not a registry document: the run must fail, naming the source and the problem."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass
class RegistryTables:
    startups: pd.DataFrame
    startup_phases: pd.DataFrame
    startup_events: pd.DataFrame
    incubators: pd.DataFrame
    registry_findings: pd.DataFrame


@dataclass
class _Findings:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, startup_id: str | None, field_name: str, value: Any, problem: str, severity: str = "warning"):
        self.rows.append(
            {
                "startup_id": startup_id,
                "field": field_name,
                "value": None if value is None else _short(value),
                "problem": problem,
                "severity": severity,
            }
        )


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def parse_date(value: Any) -> date | None:
    """ISO date (`YYYY-MM-DD`, optionally followed by a time); raises ValueError when unparsable."""
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    text = value.strip()
    if len(text) > 10 and text[10] in "T ":
        text = text[:10]
    return date.fromisoformat(text)


def _date_field(findings: _Findings, sid: str, name: str, value: Any, *, required: bool) -> date | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            findings.add(sid, name, value, "missing date")
        return None
    try:
        return parse_date(value)
    except ValueError:
        findings.add(sid, name, value, "unparsable date (expected YYYY-MM-DD)")
        return None


def _text(findings: _Findings, sid: str | None, name: str, value: Any) -> str | None:
    """A text attribute: None stays None, scalars become strings, structures are reported."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        findings.add(sid, name, value, f"expected text, got {type(value).__name__}")
        return None
    text = value if isinstance(value, str) else str(value)
    if not isinstance(value, str):
        findings.add(sid, name, value, f"expected text, got {type(value).__name__}")
    text = text.strip()
    if len(text) > MAX_TEXT:
        findings.add(sid, name, len(text), f"text longer than {MAX_TEXT} characters, truncated")
        text = text[:MAX_TEXT]
    return text


def _link(findings: _Findings, sid: str, name: str, value: Any) -> str | None:
    """A URL attribute: `javascript:`, `file:`, `ftp:`… links are refused (NULL + finding), never published."""
    text = _text(findings, sid, name, value)
    scheme = refused_scheme(text)
    if scheme is not None:
        findings.add(sid, name, text, f"refused URL scheme '{scheme}'")
        return None
    return text


def _text_list(findings: _Findings, sid: str, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        findings.add(sid, name, value, f"expected a list, got {type(value).__name__}")
        return []
    out = []
    for item in value:
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            out.append(str(item).strip())
        else:
            findings.add(sid, name, item, "list item is not text")
    return out


def _incubator_id(relationships: Any) -> str | None:
    try:
        data = relationships["incubator"]["data"]
    except (KeyError, TypeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return data["id"]
    return None


def parse_registry(document: Any, *, source: str, as_of: date) -> RegistryTables:
    """Build the registry tables from a decoded registry document.

    `as_of` is the date used for `current_phase` (the fetch date).
    """
    if not isinstance(document, dict):
        raise RegistryFormatError(source, f"the document is not a JSON object (got {type(document).__name__})")
    if "data" not in document:
        raise RegistryFormatError(source, "the document has no `data` member (not a JSON:API startups document)")
    records = document["data"]
    if not isinstance(records, list):
        raise RegistryFormatError(source, f"`data` is not a list (got {type(records).__name__})")

    findings = _Findings()
    startups: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    seen: set[str] = set()

    for index, record in enumerate(records):
        if not isinstance(record, dict):
            findings.add(None, f"data[{index}]", record, "record is not an object; skipped", "error")
            continue
        sid = record.get("id")
        if not isinstance(sid, str) or not sid.strip():
            findings.add(None, f"data[{index}].id", sid, "record has no usable id; skipped", "error")
            continue
        sid = sid.strip()
        if sid in seen:
            findings.add(sid, f"data[{index}].id", sid, "duplicate id; later record skipped", "error")
            continue
        seen.add(sid)
        attrs = record.get("attributes")
        if not isinstance(attrs, dict):
            findings.add(sid, "attributes", attrs, "attributes is not an object; record kept with no attributes", "error")
            attrs = {}

        entries: list[PhaseEntry] = []
        raw_phases = attrs.get("phases")
        if raw_phases is None:
            raw_phases = []
        if not isinstance(raw_phases, list):
            findings.add(sid, "phases", raw_phases, "phases is not a list", "error")
            raw_phases = []
        for pos, ph in enumerate(raw_phases):
            if not isinstance(ph, dict):
                findings.add(sid, f"phases[{pos}]", ph, "phase entry is not an object; skipped", "error")
                continue
            name = _text(findings, sid, f"phases[{pos}].name", ph.get("name"))
            if not name:
                findings.add(sid, f"phases[{pos}].name", ph.get("name"), "phase without a name; skipped", "error")
                continue
            normalized = normalize_phase(name)
            if normalized is None:
                findings.add(sid, f"phases[{pos}].name", name, "unknown phase name (neither the 2026 nor the old vocabulary)")
            start = _date_field(findings, sid, f"phases[{pos}].start", ph.get("start"), required=True)
            end = _date_field(findings, sid, f"phases[{pos}].end", ph.get("end"), required=False)
            if start and end and end < start:
                findings.add(sid, f"phases[{pos}].end", ph.get("end"), "phase ends before it starts")
            entries.append(PhaseEntry(name, normalized, start, pos))
            phases.append(
                {
                    "startup_id": sid,
                    "position": pos,
                    "phase": name,
                    "phase_normalized": normalized,
                    "start_date": start,
                    "end_date": end,
                }
            )
        if not entries:
            findings.add(sid, "phases", raw_phases, "startup has no phase: it is never evaluated")

        raw_events = attrs.get("events") or []
        if not isinstance(raw_events, list):
            findings.add(sid, "events", raw_events, "events is not a list", "error")
            raw_events = []
        for pos, ev in enumerate(raw_events):
            if not isinstance(ev, dict):
                findings.add(sid, f"events[{pos}]", ev, "event entry is not an object; skipped", "error")
                continue
            name = _text(findings, sid, f"events[{pos}].name", ev.get("name"))
            if not name:
                findings.add(sid, f"events[{pos}].name", ev.get("name"), "event without a name; skipped", "error")
                continue
            events.append(
                {
                    "startup_id": sid,
                    "position": pos,
                    "name": name,
                    "event_date": _date_field(findings, sid, f"events[{pos}].date", ev.get("date"), required=True),
                    "comment": _text(findings, sid, f"events[{pos}].comment", ev.get("comment")),
                }
            )

        current = phase_at(entries, as_of)
        valid_starts = [e.start for e in entries if e.start is not None]
        name = _text(findings, sid, "name", attrs.get("name"))
        if not name:
            findings.add(sid, "name", attrs.get("name"), "startup has no name; its id is used", "warning")
            name = sid
        startups.append(
            {
                "startup_id": sid,
                "name": name,
                "pitch": _text(findings, sid, "pitch", attrs.get("pitch")),
                "incubator_id": _incubator_id(record.get("relationships")),
                "current_phase": current.phase_normalized if current else None,
                "current_phase_published": current.phase if current else None,
                "link": _link(findings, sid, "link", attrs.get("link")),
                "stats_url": _link(findings, sid, "stats_url", attrs.get("stats_url")),
                "impact_url": _link(findings, sid, "impact_url", attrs.get("impact_url")),
                "budget_url": _link(findings, sid, "budget_url", attrs.get("budget_url")),
                "repository": _link(findings, sid, "repository", attrs.get("repository")),
                "contact": _text(findings, sid, "contact", attrs.get("contact")),
                "accessibility_status": _text(findings, sid, "accessibility_status", attrs.get("accessibility_status")) or None,
                "sponsors": _text_list(findings, sid, "sponsors", attrs.get("sponsors")),
                "thematiques": _text_list(findings, sid, "thematiques", attrs.get("thematiques")),
                "usertypes": _text_list(findings, sid, "usertypes", attrs.get("usertypes")),
                "first_phase_start": min(valid_starts) if valid_starts else None,
            }
        )

    incubators: list[dict[str, Any]] = []
    included = document.get("included") or []
    if not isinstance(included, list):
        findings.add(None, "included", included, "included is not a list", "error")
        included = []
    seen_inc: set[str] = set()
    for index, inc in enumerate(included):
        if not isinstance(inc, dict) or inc.get("type", "incubator") != "incubator":
            continue
        iid = inc.get("id")
        if not isinstance(iid, str) or not iid or iid in seen_inc:
            findings.add(None, f"included[{index}].id", iid, "incubator without a usable or unique id; skipped", "error")
            continue
        seen_inc.add(iid)
        a = inc.get("attributes") if isinstance(inc.get("attributes"), dict) else {}
        incubators.append(
            {
                "incubator_id": iid,
                "title": _text(findings, None, f"included[{index}].title", a.get("title")),
                "owner": _text(findings, None, f"included[{index}].owner", a.get("owner")),
                "website": _text(findings, None, f"included[{index}].website", a.get("website")),
                "github": _text(findings, None, f"included[{index}].github", a.get("github")),
                "contact": _text(findings, None, f"included[{index}].contact", a.get("contact")),
            }
        )

    def frame(rows: list[dict[str, Any]], table: contract.Table) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=table.column_names)

    return RegistryTables(
        startups=frame(startups, contract.STARTUPS),
        startup_phases=frame(phases, contract.STARTUP_PHASES),
        startup_events=frame(events, contract.STARTUP_EVENTS),
        incubators=frame(incubators, contract.INCUBATORS),
        registry_findings=frame(findings.rows, contract.REGISTRY_FINDINGS),
    )
