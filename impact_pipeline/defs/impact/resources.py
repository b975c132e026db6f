"""The reviewed criteria config file as a typed resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class CriteriaSettings(dg.ConfigurableResource):
    """Points at the criteria config file (IMPACT_CRITERIA_PATH); its version is recorded with each verdict."""

    path: str = Field(description="Path of the criteria YAML file.")

    def load(self):
        from impact_pipeline.defs.impact.criteria_config import load_criteria

        return load_criteria(self.path)
