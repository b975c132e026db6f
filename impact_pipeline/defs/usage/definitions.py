"""The usage domain (criterion (b)): observations, yearly reach and source proposals, their gates and the sources."""

import os

import dagster as dg

from impact_pipeline.defs.gates.asset_checks import gates_of
from impact_pipeline.defs.usage import assets, gates
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    usage_assets = dg.load_assets_from_modules([assets])
    sources = UsageSources(
        sources_path=settings.usage_sources_path or None,
        declared_figures_path=settings.declared_figures_path or None,
        datagouv_url=settings.datagouv_url,
        discovery=settings.usage_discovery,
        http=settings.http,
        # One token per Matomo instance, from the environment only (never in files or metadata).
        matomo_tokens={name: dg.EnvVar(name) for name in sorted(os.environ) if name.startswith("IMPACT_MATOMO_TOKEN_")},
    )
    return dg.Definitions(
        assets=usage_assets, asset_checks=gates_of(usage_assets, gates.SUITES), resources={"usage": sources}
    )
