"""The code location: each domain's definitions (assets, gates, resources, schedules), the resources they share and
the executor every run uses.

Loading it must stay fast (no pandas, DuckDB or Great Expectations at import time): the UI and every
run load it first.
"""

from __future__ import annotations

import dagster as dg

from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.gates import definitions as gates
from impact_pipeline.defs.impact import definitions as impact
from impact_pipeline.defs.quality import definitions as quality
from impact_pipeline.defs.registry import definitions as registry
from impact_pipeline.defs.reporting import definitions as reporting
from impact_pipeline.defs.usage import definitions as usage
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Definitions wired to the configuration read from the environment (or given, in tests)."""
    settings = settings or Settings.from_env()
    shared = dg.Definitions(
        resources={
            "warehouse": Warehouse(
                duckdb_path=str(settings.duckdb_path),
                export_dir=str(settings.export_dir),
                work_dir=str(settings.work_dir),
                memory_limit=settings.duckdb_memory_limit,
            ),
            "criteria": CriteriaSettings(path=str(settings.criteria_path), http=settings.http),
        },
        executor=run_executor(settings),
    )
    domains = (registry, usage, quality, impact, reporting, gates)
    return dg.Definitions.merge(shared, *(domain.build_defs(settings) for domain in domains))


def run_executor(settings: Settings) -> dg.ExecutorDefinition:
    """One process per run by default: every step takes its turn on the same DuckDB file, and a process per step
    would re-import pandas, DuckDB and Great Expectations ~45 times (minutes for a UI run).
    IMPACT_EXECUTOR=multiprocess restores Dagster's multi-or-in-process executor (the scale-out path)."""
    return dg.multi_or_in_process_executor if settings.multiprocess_executor else dg.in_process_executor


defs = build_definitions()
