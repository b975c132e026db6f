"""The reporting domain: the chart and the report drawn from each publication."""

import dagster as dg

from impact_pipeline.defs.reporting import assets
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]))
