"""The two phase vocabularies of the registry, and the phase in force at a date.

The phase in force at a date (latest start on or before it; on a tie the phase furthest along the
lifecycle, unknown names lowest, then the later entry) is one SQL macro, `phase_at` (`create_phase_at`):
`rules.phase_at_year_end_sql` reads it for December 31 of each year, `parse.py` for the current phase.
"""

from __future__ import annotations

from typing import Any

from impact_pipeline.lib.sql import sql_array

# 2026 vocabulary, in lifecycle order: on a tie (several phases starting the same day) the one
# furthest along wins, which is how the registry itself reads its data.
LIFECYCLE: tuple[str, ...] = (
    "investigation",
    "abandon-investigation",
    "construction",
    "acceleration",
    "consolidation",
    "opere",
    "transfere",
    "abandon",
)
LIFECYCLE_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LIFECYCLE)}

# Pre-2026 names and the majority rename the registry applied (not uniform upstream: the published
# name is always kept beside the normalised one).
OLD_NAMES: dict[str, str] = {
    "success": "transfere",
    "transfer": "consolidation",
    "perennisation": "consolidation",
    "alumni": "abandon",
}


def normalize_phase(name: str | None) -> str | None:
    """Phase in the 2026 vocabulary, or None when the name belongs to neither vocabulary."""
    if name is None:
        return None
    key = str(name).strip().lower()
    if key in LIFECYCLE_RANK:
        return key
    return OLD_NAMES.get(key)


def create_phase_at(con: Any) -> None:
    """Define on `con` the aggregate macro `phase_at(value, start_date, phase_normalized, position, day)`.

    Over one service's phase entries it gives `value` of the entry in force on `day`: the latest start on or
    before `day`; on a tie the entry furthest along the lifecycle (unknown names lowest), then the later one
    in the registry's list. NULL when no entry has started by `day`.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP MACRO phase_at(value, start_date, phase_normalized, position, day) AS
            arg_max_null(value, (start_date, coalesce(list_position({sql_array(LIFECYCLE)}, phase_normalized), 0),
                                 position)) FILTER (WHERE start_date <= day)"""
    )
