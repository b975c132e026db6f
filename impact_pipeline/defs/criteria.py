"""The reviewed criteria config file as a typed resource, shared by the rules of every domain and the gates."""

from __future__ import annotations

from pydantic import Field

from impact_pipeline.criteria_config import CriteriaConfig, load_criteria
from impact_pipeline.lib.http_settings import HttpSettings, http_settings_field
from impact_pipeline.lib.resources import StrictResource


class CriteriaSettings(StrictResource):
    """Points at the criteria config file (IMPACT_CRITERIA_PATH); its version is recorded with each verdict."""

    path: str = Field(description="Path of the criteria YAML file.")
    # Only its allow_private_network counts here: private addresses then count as public evidence URLs.
    http: HttpSettings = http_settings_field()

    def load(self) -> CriteriaConfig:
        return load_criteria(self.path, allow_private_network=self.http.allow_private_network)
