"""The nightly refresh: re-read the sources and re-evaluate the current year, at 02:00 Paris time."""


from zoneinfo import ZoneInfo

import dagster as dg


# Every asset of the pipeline: sources, the yearly evaluation and the publication, in one run.
impact_job = dg.define_asset_job(
    "impact_job",
    selection=dg.AssetSelection.all(),
    description="Refresh the sources, evaluate the selected years and publish the results.",
)


@dg.schedule(
    job=impact_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly at 02:00 Europe/Paris: refresh the sources and the current year, then publish.",
)
def nightly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    year = str(context.scheduled_execution_time.astimezone(ZoneInfo("Europe/Paris")).year)
    return dg.RunRequest(run_key=f"nightly-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=year)
