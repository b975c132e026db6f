"""Yearly partitions shared by every per-year asset."""

import warnings

import dagster as dg

# backfill_policy is marked beta but is the documented way to evaluate a year range in one run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

FIRST_YEAR = "2016"

# Dagster has no yearly class: a yearly cron with `%Y` keys; end_offset=1 makes the current
# (unfinished) year a partition too, so the nightly run can refresh it.
yearly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *",
    fmt="%Y",
    start=FIRST_YEAR,
    end_offset=1,
    timezone="Europe/Paris",
)

# One run evaluates a whole range of years (a backfill of 2016–2025 is one run, one publication).
single_run = dg.BackfillPolicy.single_run()

OWNERS = ["team:data"]
DUCKDB_POOL = "duckdb"
