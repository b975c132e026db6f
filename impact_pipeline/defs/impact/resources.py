"""The reviewed criteria config file as a typed resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class CriteriaSettings(dg.ConfigurableResource):
    """Points at the criteria config file (IMPACT_CRITERIA_PATH); its version is recorded with each verdict."""

    path: str = Field(description="Path of the criteria YAML file.")
    allow_private_network: bool = Field(
        default=False, description="IMPACT_ALLOW_PRIVATE_NETWORK=1: private addresses count as public evidence URLs."
    )

    def load(self):
        import dataclasses

        from impact_pipeline.defs.impact.criteria_config import load_criteria

        return dataclasses.replace(load_criteria(self.path), allow_private_network=self.allow_private_network)
