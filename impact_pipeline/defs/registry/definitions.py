"""The registry domain: the registry's documents and tables, their gates and the registry source."""

import dagster as dg

from impact_pipeline.defs.gates.asset_checks import gates_of
from impact_pipeline.defs.gates.suites import REGISTRY_SUITES
from impact_pipeline.defs.registry import assets
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    registry_assets = dg.load_assets_from_modules([assets])
    return dg.Definitions(
        assets=registry_assets,
        asset_checks=gates_of(registry_assets, REGISTRY_SUITES),
        resources={
            "registry": RegistrySource(url=settings.registry_url, history=settings.registry_history, http=settings.http)
        },
    )
