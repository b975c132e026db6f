"""The impact domain: the yearly evaluation and its publication, their gates, the job and the nightly schedule."""

import dagster as dg

from impact_pipeline.defs.gates.asset_checks import gates_of
from impact_pipeline.defs.gates.suites import IMPACT_SUITES
from impact_pipeline.defs.impact import assets
from impact_pipeline.defs.impact.schedules import build_impact_job, build_nightly_refresh
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    impact_assets = dg.load_assets_from_modules([assets])
    impact_job = build_impact_job(settings.mode)
    return dg.Definitions(
        assets=impact_assets,
        asset_checks=gates_of(impact_assets, IMPACT_SUITES),
        jobs=[impact_job],
        schedules=[build_nightly_refresh(impact_job)],
    )
