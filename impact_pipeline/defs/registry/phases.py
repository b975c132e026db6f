"""The two phase vocabularies of the registry and how to read a startup's phase at a date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

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


@dataclass(frozen=True)
class PhaseEntry:
    phase: str  # as published
    phase_normalized: str | None
    start: date | None
    position: int = 0


def phase_at(entries: Iterable[PhaseEntry], when: date) -> PhaseEntry | None:
    """The phase in force at `when`: latest start on or before it, ties broken by lifecycle rank.

    Unknown names rank below every known phase on a tie; entries without a valid start are ignored.
    """
    best: PhaseEntry | None = None
    best_key: tuple | None = None
    for entry in entries:
        if entry.start is None or entry.start > when:
            continue
        key = (entry.start, LIFECYCLE_RANK.get(entry.phase_normalized or "", -1), entry.position)
        if best_key is None or key > best_key:
            best, best_key = entry, key
    return best
