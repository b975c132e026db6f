"""`impact-pipeline`: run the pipeline from a terminal, cron or CI, through the same Dagster definitions.

Runs are recorded in DAGSTER_HOME (default `.dagster_home/` in the current folder) so they show in the UI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date
from pathlib import Path

from impact_pipeline.settings import PROJECT_ROOT

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def parse_years(text: str | None, first: int, last: int) -> tuple[int, int]:
    """`2016:2025`, `2024` or nothing (every year from `first` to `last`) → an inclusive range."""
    if not text:
        return first, last
    try:
        if ":" in text:
            lo_text, hi_text = text.split(":", 1)
            lo = int(lo_text) if lo_text.strip() else first
            hi = int(hi_text) if hi_text.strip() else last
        else:
            lo = hi = int(text)
    except ValueError:
        raise SystemExit(f"--years: expected YEAR or FIRST:LAST (e.g. 2016:2025), got {text!r}") from None
    if lo > hi:
        raise SystemExit(f"--years: {lo} is after {hi}")
    if lo < first or hi > last:
        raise SystemExit(f"--years: years must lie within {first}:{last} (got {lo}:{hi})")
    return lo, hi


def ensure_dagster_home() -> Path:
    """Use DAGSTER_HOME if set, else `.dagster_home/` here, seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    source = PROJECT_ROOT / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and source.exists():
        shutil.copyfile(source, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _failure_messages(result) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            cause = error
            while cause.cause is not None:  # the user's exception, not Dagster's wrapper
                cause = cause.cause
            messages.append(f"{event.step_key}: {cause.message.strip()}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed and data.severity.value == "ERROR":
                detail = (data.description or "").strip()
                messages.append(f"gate {data.asset_key.to_user_string()}:{data.check_name} failed"
                                + (f": {detail}" if detail else ""))
    return messages


def print_summary(duckdb_path: Path, lo: int, hi: int) -> None:
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        rows = con.execute(
            """SELECT s.year, s.n_evaluated,
                      (SELECT count(*) FROM national_impact n WHERE n.year = s.year AND n.criterion_a = 'pass'),
                      s.n_meeting_criteria, s.n_first_meeting, s.n_designated_in_year, s.n_designated_cumulative,
                      s.n_designated_not_meeting, s.n_meeting_not_designated
               FROM national_impact_summary s WHERE s.year BETWEEN ? AND ? ORDER BY s.year""",
            [lo, hi],
        ).fetchall()
    finally:
        con.close()
    header = ("year", "evaluated", "(a) pass", "meeting", "first", "designated", "cumulative",
              "designated-not-meeting", "meeting-not-designated")
    widths = [max(len(h), 4) for h in header]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


def release_dead_runs(instance) -> None:
    """Runs killed earlier would hold the `duckdb` pool slot forever: fail them, free their slots, say so in a line."""
    from impact_pipeline.lib.runs import release_dead_runs as release

    released = release(instance)
    if released:
        ids = ", ".join(run_id[:8] for run_id in released)
        print(f"impact-pipeline: {len(released)} interrupted run(s) whose process is gone marked failed, "
              f"pool slots freed: {ids}", file=sys.stderr)


def publication_note(duckdb_path: Path, before: str | None) -> str:
    """What a failed run did to the published outputs, read from the publication pointer (never assumed)."""
    from impact_pipeline.lib.warehouse import current_publication

    after = current_publication(duckdb_path)
    if after == before:
        return f"published outputs left unchanged: {duckdb_path}"
    return (f"this run PUBLISHED {duckdb_path} (publication {after}) before a later step failed; "
            f"the previous one is kept in {Path(duckdb_path).stem}.publications/previous")


def cmd_materialize(args: argparse.Namespace) -> int:
    if args.sample:
        os.environ["IMPACT_SAMPLE"] = "1"
    ensure_dagster_home()

    import dagster as dg

    from impact_pipeline.definitions import build_definitions
    from impact_pipeline.defs.partitions import yearly_partitions
    from impact_pipeline.settings import Settings

    settings = Settings.from_env()
    keys = yearly_partitions.get_partition_keys()
    lo, hi = parse_years(args.years, int(keys[0]), int(keys[-1]))
    defs = build_definitions(settings)
    job = defs.resolve_job_def("impact_job")
    print(f"impact-pipeline: evaluating {lo}–{hi} from {settings.registry_url}", file=sys.stderr)
    from filelock import FileLock

    # One CLI run at a time on the same working area: a second cron run waits for the first instead of
    # interleaving its writes (steps are already serialised by the warehouse lock, this makes runs atomic).
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.work_dir / "run.lock")):
        instance = dg.DagsterInstance.get()  # inside the lock: two CLIs never initialise one SQLite store at once
        release_dead_runs(instance)
        from impact_pipeline.lib.warehouse import current_publication

        published_before = current_publication(settings.duckdb_path)
        result = job.execute_in_process(
            instance=instance,
            tags={RANGE_START: str(lo), RANGE_END: str(hi), "impact/trigger": "cli"},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO" if args.verbose else "WARNING"}}}},
            raise_on_error=False,
        )
    if not result.success:
        print(f"impact-pipeline: run {result.run_id} FAILED", file=sys.stderr)
        for message in _failure_messages(result) or ["see the run in the Dagster UI"]:
            print(f"  - {message}", file=sys.stderr)
        print(f"  {publication_note(settings.duckdb_path, published_before)}", file=sys.stderr)
        return 1
    print(f"impact-pipeline: run {result.run_id} succeeded; published {settings.duckdb_path}")
    print(f"CSV exports in {settings.export_dir}")
    print_summary(settings.duckdb_path, lo, hi)
    from impact_pipeline.sources_cli import print_coverage

    print_coverage(settings.duckdb_path)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    if args.sample:
        os.environ["IMPACT_SAMPLE"] = "1"
    from impact_pipeline.explain import run
    from impact_pipeline.settings import Settings

    return run(Settings.from_env().duckdb_path, args.startup_id, args.year)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="impact-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="refresh the sources, evaluate years and publish")
    mat.add_argument("--years", help=f"YEAR or FIRST:LAST (default: 2016 to {date.today().year})")
    mat.add_argument("--sample", action="store_true", help="use the bundled sample world in data/sample/")
    mat.add_argument("--verbose", "-v", action="store_true", help="show Dagster's step logs")
    mat.set_defaults(func=cmd_materialize)
    exp = sub.add_parser("explain", help="why a service meets the criteria or not, with the evidence (published data)")
    exp.add_argument("startup_id", help="registry id of the service, e.g. exemple-boussole-demo")
    exp.add_argument("--year", type=int, help="explain this year only (default: history, then the latest year)")
    exp.add_argument("--sample", action="store_true", help="read the sample world's published file")
    exp.set_defaults(func=cmd_explain)
    from impact_pipeline.sources_cli import add_parser as add_sources_parser

    add_sources_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
