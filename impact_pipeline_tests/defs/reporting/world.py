"""A small hand-written published file for the reporting tests: every status, rich (b)/(c) evidence, hostile text.

Verdicts are written per (year, service, criterion) as the criteria modules return them; the published
tables are then derived with the pipeline's own rules (`national_impact`, `summary`), so the file has the
exact shape a real publication has.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from impact_pipeline import contract
from impact_pipeline.defs.impact import rules
from impact_pipeline.lib.warehouse import ensure_tables

VERSION = "2099.1+testtest"
YEARS = (2024, 2025)
XSS_NAME = '<script>alert("pwned")</script> Évil & Co'
XSS_ID = "svc-xss"
# Retitles the terminal window and clears the screen when printed raw.
ESCAPE_NAME = "Evil\x1b]0;pwned\x07\x1b[2J Term"
ESCAPE_ID = "svc-term"

# startup_id -> (name, link, designation_year)
STARTUPS = {
    "svc-ok": ("Service OK", "https://ok.example.org", 2024),
    "svc-undesignated": ("Service Non Désigné", "https://undesignated.example.org", None),
    "svc-late": ("Service Désigné Tôt", "https://late.example.org", 2023),
    XSS_ID: (XSS_NAME, "javascript:alert(1)", None),
    "svc-never": ("Service Sans Phase", "", None),  # in the registry, never evaluated
    "svc-future": ("Service Futur", "", None),  # its first phase starts after the evaluated years
    ESCAPE_ID: (ESCAPE_NAME, "", None),  # terminal escapes in a name, never evaluated
}
FIRST_PHASE_START = {"svc-future": date(2027, 3, 1)}

B_THRESHOLD = 100000


def _a(verdict: str, phase: str, year: int) -> tuple[str, str, dict]:
    return (
        verdict,
        f"(a) {verdict}: phase '{phase}' at the end of {year}.",
        {"phase_at_year_end": phase, "qualifying_phases": ["acceleration", "consolidation"], "source": "registry"},
    )


def _b(verdict: str, value: int | None, sid: str) -> tuple[str, str, dict]:
    if value is None:
        return "unknown", "(b) unknown: no usage source for this service.", {"source": None, "note": "no usage source"}
    return (
        verdict,
        f"(b) {verdict}: {value:,} visits a year against a threshold of {B_THRESHOLD:,}.",
        {
            "value": value,
            "threshold": B_THRESHOLD,
            "unit": "visits",
            "source": "matomo",
            "evidence_url": f"https://stats.example.org/{sid}",
        },
    )


def _c(verdict: str, support: str, repo: str) -> tuple[str, str, dict]:
    return (
        verdict,
        f"(c) {verdict}: support {support}, repository {repo}.",
        {
            "sub_criteria": {
                "support": {"verdict": support, "reason": f"team answers users: {support}"},
                "repository": {"verdict": repo, "reason": "commits in the year", "url": "https://forge.example.org/r"},
            }
        },
    )


def verdicts() -> dict[tuple[int, str], dict[str, tuple[str, str, dict]]]:
    """(year, startup_id) -> criterion -> (verdict, reason, evidence)."""
    out = {}
    for y in YEARS:
        out[(y, "svc-ok")] = {
            "a": _a("pass", "acceleration", y),
            "b": _b("pass", 250000, "svc-ok"),
            "c": _c("pass", "pass", "pass"),
        }
        out[(y, "svc-undesignated")] = {
            "a": _a("pass", "consolidation", y),
            "b": _b("pass", 1200000, "svc-undesignated"),
            "c": _c("pass", "pass", "pass"),
        }
        # Designated for 2023 but its reach is below the threshold in 2024; it passes in 2025.
        late_b = _b("fail", 5000, "svc-late") if y == 2024 else _b("pass", 300000, "svc-late")
        out[(y, "svc-late")] = {"a": _a("pass", "acceleration", y), "b": late_b, "c": _c("pass", "pass", "pass")}
        xss_b = (
            "unknown",
            "(b) unknown: <img src=x onerror=alert(1)>",
            {"source": "declared", "evidence_url": "javascript:alert(document.cookie)", "<b>key</b>": "<i>v</i>"},
        )
        out[(y, XSS_ID)] = {"a": _a("fail", "construction", y), "b": xss_b, "c": _c("unknown", "unknown", "fail")}
    return out


# What the review lists must be, by construction of the verdicts above.
EXPECTED_DESIGNATED_NOT_MEETING = {2024: ["svc-late"], 2025: []}
EXPECTED_MEETING_NOT_DESIGNATED = {2024: ["svc-undesignated"], 2025: ["svc-undesignated"]}


def make_published(path: Path) -> Path:
    """Write the published DuckDB file of this world at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for (year, sid), per_criterion in verdicts().items():
        for c, (verdict, reason, evidence) in per_criterion.items():
            rows.append(
                (year, sid, c, verdict, reason, json.dumps(evidence, ensure_ascii=False, sort_keys=True), VERSION)
            )
    evaluation = pd.DataFrame(rows, columns=contract.CRITERIA_EVALUATION.column_names)
    startups = pd.DataFrame(
        [(sid, name, link, FIRST_PHASE_START.get(sid)) for sid, (name, link, _) in STARTUPS.items()],
        columns=["startup_id", "name", "link", "first_phase_start"],
    )
    designated = pd.DataFrame(
        [(sid, date(dy + 1, 2, 1), dy) for sid, (_, _, dy) in STARTUPS.items() if dy is not None],
        columns=["startup_id", "event_date", "designation_year"],
    )
    con = duckdb.connect(str(path))
    try:
        ensure_tables(con)
        for name, frame in (("criteria_evaluation", evaluation), ("startups", startups)):
            con.register("_frame", frame)
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _frame')
            con.unregister("_frame")
        # The published tables are derived with the pipeline's own rules.
        con.register("_designated", designated)
        for name, sql in (
            ("national_impact", rules.national_impact_sql(list(YEARS), "_designated")),
            ("national_impact_summary", rules.summary_sql(list(YEARS), "_designated")),
        ):
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM ({sql})')
        con.execute(
            "INSERT INTO publish_log VALUES (TIMESTAMP '2026-01-02 03:04:05', 'run-test', '2024,2025', ?)", [VERSION]
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path
