"""The usage source types, one module each: `ADAPTERS` maps a `type:` of the sources file to its adapter.

The sources file's validation, the fetching and the list of source kinds all read this mapping: a new source type
is a new module here (its options model, its reads, its parser) and one line below.
"""

from __future__ import annotations

from impact_pipeline.defs.usage.adapters import impact_csv, json_stats, matomo, metabase
from impact_pipeline.defs.usage.adapters.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    "impact_csv": impact_csv.ADAPTER,
    "matomo": matomo.ADAPTER,
    "metabase": metabase.ADAPTER,
    "json": json_stats.ADAPTER,
}

# The declared figures (`declared.py`) are a reviewed CSV of their own, not a type of the sources file.
DECLARED = "declared"


def source_kinds() -> tuple[str, ...]:
    """Every kind of usage_observations.source, as the registry stands (tests may register more)."""
    return (*dict.fromkeys(a.source for a in ADAPTERS.values()), DECLARED)


SOURCES = source_kinds()
