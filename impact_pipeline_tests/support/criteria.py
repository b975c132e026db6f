"""Criteria configs for tests: the reviewed file, or the reviewed file with some keys changed."""

from __future__ import annotations

from typing import Any

import yaml

from impact_pipeline.criteria_config import CriteriaConfig, load_criteria
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH


def criteria_with(changes: dict[str, Any], base: CriteriaConfig | None = None) -> CriteriaConfig:
    """`base` (the reviewed file by default) with `changes` merged in, nested as in the file, and checked as a file
    would be (a misspelt key is an error here too)."""

    def merge(into: dict, new: dict) -> dict:
        nested = {k: merge(into[k], v) for k, v in new.items() if isinstance(v, dict) and isinstance(into.get(k), dict)}
        return {**into, **new, **nested}

    base = base or load_criteria(DEFAULT_CRITERIA_PATH)
    data = merge(base.model_dump(mode="json"), changes)
    return CriteriaConfig.parse(
        yaml.safe_dump(data).encode(), "<test>", allow_private_network=base.allow_private_network
    )
