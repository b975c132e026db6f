"""The two phase vocabularies of the registry.

The phase in force at a date (latest start on or before it; on a tie the phase furthest along the
lifecycle, unknown names lowest, then the later entry) is read in SQL: `rules.phase_at_year_end_sql`
for December 31 of each year, `parse.py` for the current phase at the fetch date.
"""

from __future__ import annotations

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
