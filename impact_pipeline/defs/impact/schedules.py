"""The nightly refresh: re-read the sources and re-evaluate the current year, at 02:00 Paris time; the job it runs,
and the freshness the published assets are expected to have."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from impact_pipeline.settings import MODE_TAG

NIGHTLY_CRON, TIMEZONE = "0 2 * * *", "Europe/Paris"
# The published assets are expected to be refreshed by the nightly run: materialized between 02:00 and 08:00 Paris
# time every day (a failed gate, which publishes nothing, shows as stale).
NIGHTLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 8 * * *", lower_bound_delta=timedelta(hours=6), timezone=TIMEZONE
)

JOB_DESCRIPTION = (
    "Refresh the sources, evaluate the selected years and publish the results. Launch it over a range of years "
    "(Materialize → choose the partitions → 'single run', or `impact-pipeline materialize --years`) to evaluate "
    "the range in one run and one publication. 'Materialize all' from the asset graph over a range is an asset "
    "backfill: Dagster then runs each group of assets sharing a partitioning in its own run (the unpartitioned "
    "sources, the yearly evaluation for the whole range, the publication and the reports), one after the other."
)


def build_impact_job(mode: str = "live"):
    """Every asset of the pipeline: sources, the yearly evaluation and the publication, in one run."""
    return dg.define_asset_job(
        "impact_job", selection=dg.AssetSelection.all(), description=JOB_DESCRIPTION, tags={MODE_TAG: mode}
    )


def build_nightly_refresh(job) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly at 02:00 Europe/Paris: refresh the sources and the current year, then publish.",
    )
    def nightly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        year = str(context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).year)
        return dg.RunRequest(run_key=f"nightly-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=year)

    return nightly_refresh
