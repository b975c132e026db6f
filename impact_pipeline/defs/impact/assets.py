"""Yearly evaluation against the three criteria, the published table, its summary and the publication."""

from contextlib import contextmanager

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.impact.schedules import NIGHTLY_FRESHNESS
from impact_pipeline.defs.metadata import preview as _preview
from impact_pipeline.defs.metadata import table_metadata as _meta
from impact_pipeline.defs.partitions import DUCKDB_POOL, OWNERS, single_run, yearly_partitions
from impact_pipeline.defs.quality import criterion as quality_criterion
from impact_pipeline.defs.usage import criterion as usage_criterion
from impact_pipeline.lib.warehouse import Warehouse, replace_rows, transaction

GROUP = "impact"


def _years(context: dg.AssetExecutionContext) -> list[int]:
    return [int(k) for k in context.partition_keys]


def _replace_years(con, table: contract.Table, years: list[int], select_sql: str) -> int:
    """Idempotent partition write: delete the years' rows, insert the new ones, in one transaction."""
    in_years = "year IN (SELECT unnest(?::INTEGER[]))"
    with transaction(con):
        replace_rows(con, table, select_sql, in_years, [years])
        n = con.execute(f'SELECT count(*) FROM "{table.name}" WHERE {in_years}', [years]).fetchall()[0][0]
    return int(n)


def _frame(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).df()


_IN_YEARS = "WHERE year IN (SELECT unnest(?::INTEGER[]))"


def _yearly_metadata(con, years: list[int], n_rows: int, preview_sql: str, **figures) -> dict:
    """A yearly write's metadata: its row count and years, the asset's own `figures`, then a preview of its first rows
    (`preview_sql`: a SELECT whose `{in_years}` is filled with the years' filter)."""
    preview = _frame(con, preview_sql.format(in_years=_IN_YEARS) + " LIMIT 10", [years])
    return {
        "dagster/row_count": n_rows,
        "years": ", ".join(map(str, years)),
        **figures,
        "preview": _preview(preview, list(preview.columns)),
    }


def _yearly_asset(table: contract.Table, deps: list, freshness_policy: dg.FreshnessPolicy | None = None):
    """The decorator of a yearly asset written to DuckDB: partitioned by year, one run per backfill, one writer."""
    return dg.asset(
        group_name=GROUP,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        partitions_def=yearly_partitions,
        backfill_policy=single_run,
        deps=deps,
        metadata=_meta(table),
        freshness_policy=freshness_policy,
    )


@contextmanager
def _yearly_write(context, warehouse: Warehouse, criteria: CriteriaSettings, table: contract.Table):
    """Replaces the partition's years of national_impact or its summary by its rule over the official designations
    of criteria.yaml; yields the open connection, the years and the row count, for the asset's metadata."""
    from impact_pipeline.defs.impact import rules

    rule = {"national_impact": rules.national_impact_sql, "national_impact_summary": rules.summary_sql}[table.name]
    years = _years(context)
    with warehouse.connect() as con:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _designated AS {rules.designations_sql(criteria.load())}")
        yield con, years, _replace_years(con, table, years, rule(years, "_designated"))


@_yearly_asset(
    contract.CRITERIA_EVALUATION,
    deps=["startups", "startup_phases", "startup_events", *usage_criterion.DEPS, *quality_criterion.DEPS],
)
def criteria_evaluation(
    context: dg.AssetExecutionContext, warehouse: Warehouse, criteria: CriteriaSettings
) -> dg.MaterializeResult:
    """Each service's verdict on each criterion of the policy for the year, with its reason and evidence."""
    from impact_pipeline.defs.impact import rules

    config = criteria.load()
    years = _years(context)
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_url, sha256 FROM registry_raw WHERE document IS NOT NULL "
            "ORDER BY coalesce(observed_at, fetched_at) DESC, fetched_at DESC LIMIT 1"
        ).fetchall()
        raw = rows[0] if rows else (None, None)
        source = {"source": "registry", "registry_url": raw[0], "registry_sha256": raw[1]}
        n_rows = _replace_years(
            con, contract.CRITERIA_EVALUATION, years, rules.evaluate_sql(con, years, config, source)
        )
        counts = con.execute(
            f"SELECT criterion, verdict, count(*) FROM criteria_evaluation {_IN_YEARS} GROUP BY ALL ORDER BY ALL",
            [years],
        ).fetchall()
        metadata = _yearly_metadata(
            con,
            years,
            n_rows,
            "SELECT year, startup_id, criterion, verdict, reason FROM criteria_evaluation {in_years} "
            "ORDER BY year, startup_id, criterion",
            criteria_version=config.criteria_version,
            verdicts=dg.MetadataValue.json({f"{c}:{v}": int(n) for c, v, n in counts}),
        )
    return dg.MaterializeResult(metadata=metadata)


@_yearly_asset(
    contract.NATIONAL_IMPACT,
    deps=[criteria_evaluation, "startups", "startup_events"],
    freshness_policy=NIGHTLY_FRESHNESS,
)
def national_impact(
    context: dg.AssetExecutionContext, warehouse: Warehouse, criteria: CriteriaSettings
) -> dg.MaterializeResult:
    """The yearly national-impact table: three criteria, the verdict, and the official designation beside it."""
    with _yearly_write(context, warehouse, criteria, contract.NATIONAL_IMPACT) as (con, years, n_rows):
        n_meeting = con.execute(
            f"SELECT count(*) FILTER (WHERE meets_criteria) FROM national_impact {_IN_YEARS}", [years]
        ).fetchall()[0][0]
        metadata = _yearly_metadata(
            con,
            years,
            n_rows,
            "SELECT year, startup_id, name, phase_at_year_end, criterion_a, criterion_b, criterion_c, meets_criteria, "
            "officially_designated FROM national_impact {in_years} ORDER BY year, startup_id",
            n_meeting_criteria=int(n_meeting),
        )
    return dg.MaterializeResult(metadata=metadata)


@_yearly_asset(contract.NATIONAL_IMPACT_SUMMARY, deps=[national_impact], freshness_policy=NIGHTLY_FRESHNESS)
def national_impact_summary(
    context: dg.AssetExecutionContext, warehouse: Warehouse, criteria: CriteriaSettings
) -> dg.MaterializeResult:
    """The year in numbers: services meeting the criteria (stock, first time) beside the official designations."""
    with _yearly_write(context, warehouse, criteria, contract.NATIONAL_IMPACT_SUMMARY) as (con, years, n_rows):
        frame = _frame(
            con,
            "SELECT * FROM national_impact_summary WHERE year IN (SELECT unnest(?::INTEGER[])) ORDER BY year",
            [years],
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n_rows,
            "summary": _preview(frame, contract.NATIONAL_IMPACT_SUMMARY.column_names[:-1], n=len(frame)),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "csv"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[national_impact, national_impact_summary, "startups", "startup_phases", "startup_events", "incubators"],
    # The yearly CSV exports have the columns of national_impact.
    metadata={"dagster/column_schema": contract.table_schema(contract.NATIONAL_IMPACT)},
    freshness_policy=NIGHTLY_FRESHNESS,
)
def published_outputs(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The analyst DuckDB file and the yearly CSV exports, replaced atomically once every gate has passed."""
    info = warehouse.publish(context.run.run_id)
    context.log.info(f"published {info['published_path']} and {len(info['csv_paths'])} CSV files")
    return dg.MaterializeResult(
        metadata={
            "duckdb_path": dg.MetadataValue.path(info["published_path"]),
            "years": ", ".join(map(str, info["years"])),
            "csv_files": dg.MetadataValue.json(info["csv_paths"]),
            "dagster/row_count": sum(info["rows_per_year"].values()),
            "preview": dg.MetadataValue.md(
                "| year | rows | CSV file |\n|---|---|---|\n"
                + "\n".join(f"| {y} | {n} | national_impact_{y}.csv |" for y, n in info["rows_per_year"].items())
            ),
        }
    )
