"""The code location: assembles every domain's assets, checks, resources and schedules.

Loading it must stay fast (no pandas, DuckDB or Great Expectations at import time): the UI and every
run load it first.
"""

from __future__ import annotations

import os

import dagster as dg

from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.gates.asset_checks import build_asset_checks
from impact_pipeline.defs.gates.resources import GateEngine
from impact_pipeline.defs.gates.suites import ALL_SUITES
from impact_pipeline.defs.impact import assets as impact_assets
from impact_pipeline.defs.impact.schedules import build_impact_job, build_nightly_refresh
from impact_pipeline.defs.quality import assets as quality_assets
from impact_pipeline.defs.quality import gates as quality_gates
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.defs.registry import assets as registry_assets
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.defs.reporting import assets as reporting_assets
from impact_pipeline.defs.usage import assets as usage_assets
from impact_pipeline.defs.usage import gates as usage_gates
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Definitions wired to the configuration read from the environment (or given, in tests)."""
    settings = settings or Settings.from_env()
    impact_job = build_impact_job(settings.mode)
    # One process per run by default: every step takes its turn on the same DuckDB file, and a process per
    # step would re-import pandas, DuckDB and Great Expectations ~45 times (minutes for a UI run).
    # IMPACT_EXECUTOR=multiprocess restores Dagster's multi-or-in-process executor (the scale-out path).
    executor = (
        dg.multi_or_in_process_executor
        if os.environ.get("IMPACT_EXECUTOR") == "multiprocess"
        else dg.in_process_executor
    )
    assets = dg.load_assets_from_modules(
        [registry_assets, impact_assets, reporting_assets, usage_assets, quality_assets]
    )
    # Gates on the tables one step writes run in one step (fewer Dagster steps: ~0.2 s of overhead each).
    producers = {
        key.to_user_string(): a.node_def.name for a in assets if isinstance(a, dg.AssetsDefinition) for key in a.keys
    }
    return dg.Definitions(
        executor=executor,
        assets=assets,
        asset_checks=build_asset_checks([*ALL_SUITES, *usage_gates.SUITES, *quality_gates.SUITES], producers),
        jobs=[impact_job],
        schedules=[build_nightly_refresh(impact_job)],
        resources={
            "registry": RegistrySource(
                url=settings.registry_url,
                history=settings.registry_history,
                http=settings.http,
            ),
            "warehouse": Warehouse(
                duckdb_path=str(settings.duckdb_path),
                export_dir=str(settings.export_dir),
                work_dir=str(settings.work_dir),
                memory_limit=settings.duckdb_memory_limit,
            ),
            "criteria": CriteriaSettings(path=str(settings.criteria_path), http=settings.http),
            "gates": GateEngine(chunk_rows=settings.gate_chunk_rows, reuse_unchanged=settings.gate_reuse),
            "usage": UsageSources(
                sources_path=settings.usage_sources_path or None,
                declared_figures_path=settings.declared_figures_path or None,
                datagouv_url=settings.datagouv_url,
                discovery=settings.usage_discovery,
                http=settings.http,
                # One token per Matomo instance, from the environment only (never in files or metadata).
                matomo_tokens={
                    name: dg.EnvVar(name) for name in sorted(os.environ) if name.startswith("IMPACT_MATOMO_TOKEN_")
                },
            ),
            "quality": _quality_sources(settings),
        },
    )


def _quality_sources(settings: Settings) -> QualitySources:
    """Criterion (c)'s sources; tokens only through dg.EnvVar, and only when set (the sample never sends them)."""

    def token(name: str):
        return dg.EnvVar(name) if os.environ.get(name) and not settings.sample else None

    return QualitySources(
        observatoire_url=settings.observatoire_url,
        observatoire_hosts_path=settings.observatoire_hosts_path,
        github_api_url=settings.github_api_url,
        github_token=token("GITHUB_TOKEN"),
        gitlab_api_url=settings.gitlab_api_url,
        gitlab_token=token("GITLAB_TOKEN"),
        gitlab_self_hosted=settings.gitlab_self_hosted,
        url_checks=settings.url_checks,
        url_checks_recorded=settings.url_checks_recorded,
        web_archive_url=settings.web_archive_url,
        http=settings.http,
    )


defs = build_definitions()
