"""The code location: assembles every domain's assets, checks, resources and schedules.

Loading it must stay fast (no pandas, DuckDB or Great Expectations at import time): the UI and every
run load it first.
"""

from __future__ import annotations

import dagster as dg

from impact_pipeline.defs.impact import assets as impact_assets
from impact_pipeline.defs.impact.resources import CriteriaSettings
from impact_pipeline.defs.impact.schedules import impact_job, nightly_refresh
from impact_pipeline.defs.registry import assets as registry_assets
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Definitions wired to the configuration read from the environment (or given, in tests)."""
    settings = settings or Settings.from_env()
    return dg.Definitions(
        assets=dg.load_assets_from_modules([registry_assets, impact_assets]),
        asset_checks=[],
        jobs=[impact_job],
        schedules=[nightly_refresh],
        resources={
            "registry": RegistrySource(url=settings.registry_url, allow_private_network=settings.allow_private_network),
            "warehouse": Warehouse(
                duckdb_path=str(settings.duckdb_path),
                export_dir=str(settings.export_dir),
                work_dir=str(settings.work_dir),
            ),
            "criteria": CriteriaSettings(path=str(settings.criteria_path)),
        },
    )


defs = build_definitions()
