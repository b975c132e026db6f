"""Criterion (b), significant impact, as a rule over the usage tables.

Until a usage source is connected every service is `unknown` (never `pass` by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas stays out of the code location's import time
    import pandas as pd

    from impact_pipeline.defs.impact.criteria_config import CriteriaConfig

# Asset keys criterion (b) reads; the yearly evaluation depends on them.
DEPS: list[str] = []


def criterion_b(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """Rows (year, startup_id, criterion='b', verdict, reason, evidence: dict) for every key."""
    from impact_pipeline.defs.impact.rules import criterion_without_source

    return criterion_without_source(keys, "b", config.no_usage_reason)
