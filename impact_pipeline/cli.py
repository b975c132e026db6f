"""`impact-pipeline`: run the pipeline from a terminal, cron or CI, through the same Dagster definitions.

Runs are recorded in DAGSTER_HOME (default `.dagster_home/` in the project; the sample world's in
`.dagster_home_sample/`, so its runs never show beside real ones) so they show in the UI.
Exit codes: 0 success, 1 the run (or the command) failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from impact_pipeline.settings import MODE_TAG, PROJECT_ROOT

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# A step running longer than this prints a "still running" line, then again every PROGRESS_EVERY seconds.
PROGRESS_EVERY = 15.0


class UsageError(Exception):
    """A wrong command line or configuration: exit code 2, one line, nothing run."""


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
        raise UsageError(f"--years: expected YEAR or FIRST:LAST (e.g. 2016:2025), got {text!r}") from None
    if lo > hi:
        raise UsageError(f"--years: {lo} is after {hi}")
    if lo < first or hi > last:
        raise UsageError(f"--years: years must lie within {first}:{last} (got {lo}:{hi})")
    return lo, hi


def ensure_dagster_home(sample: bool = False) -> Path:
    """DAGSTER_HOME if set, else `.dagster_home/` in the project, seeded with the project's dagster.yaml.

    The sample world gets its own instance (`.dagster_home_sample/`, or `sample/` inside DAGSTER_HOME), so a
    sample run never claims a partition that a real run published."""
    given = os.environ.get("DAGSTER_HOME")
    if sample:
        home = Path(given) / "sample" if given else PROJECT_ROOT / ".dagster_home_sample"
    else:
        home = Path(given) if given else PROJECT_ROOT / ".dagster_home"
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    source = PROJECT_ROOT / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and source.exists():
        shutil.copyfile(source, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


# --- what a person reads while a run goes and when it fails -----------------------------------------------

# (pattern found in the step and cause, what to do). First match wins; matched on the lower-cased text.
FIXES = (
    (
        "file not found",
        "no file at that path: check IMPACT_REGISTRY_URL (or the path variable of the failing step's source)",
    ),
    (
        "private/loopback/link-local",
        "for a local mirror set IMPACT_ALLOW_PRIVATE_NETWORK=1, or give a local file "
        "path instead (no opt-in needed, nothing is fetched)",
    ),
    (r"http 404", "the URL answers 404 Not Found: check it, or run with --offline and a local registry file"),
    (
        "connection refused",
        "the server refused the connection: is it up? Without a network, run with --offline and "
        "IMPACT_REGISTRY_URL=<local file>",
    ),
    (
        "could not resolve host",
        "the host name does not resolve: check the URL and the network, or run with "
        "--offline and IMPACT_REGISTRY_URL=<local file>",
    ),
    ("timed out", "the server did not answer in time: retry later, or run with --offline and a local registry file"),
    (
        r"\bgates?\b",
        "a gate rejected the data, so nothing was published: the log lists the failing expectations and "
        "rows (in the UI: the check's metadata)",
    ),
)


def fix_for(cause: str) -> str:
    import re

    text = cause.lower()
    return next((fix for pattern, fix in FIXES if re.search(pattern, text)), "see the full log for the details")


def _root_cause(error) -> str:
    cause = error
    while cause.cause is not None:  # the user's exception, not Dagster's wrapper
        cause = cause.cause
    message = cause.message.strip()
    # "impact_pipeline.lib.http.FetchError: url: reason" → "url: reason" (the class name says nothing to a reader)
    head, sep, rest = message.partition(": ")
    return rest if sep and "." in head and " " not in head else message


def _failures(events) -> list[tuple[str, str]]:
    """(step or gate, cause) of each step failure and each failed blocking gate of a run."""
    found = []
    for event in events:
        if event.is_step_failure:
            found.append((event.step_key, _root_cause(event.event_specific_data.error)))
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed and data.severity.value == "ERROR":
                detail = (data.description or "").strip()
                found.append(
                    (
                        f"gate {data.asset_key.to_user_string()}:{data.check_name}",
                        "failed" + (f": {detail}" if detail else ""),
                    )
                )
    return found


class Progress:
    """One line per step as it finishes (and a line for steps that run long); every event into the log file."""

    def __init__(self, log_path: Path, out=sys.stderr, verbose: bool = False):
        self.log = log_path.open("w", encoding="utf-8")
        self.out = out
        self.verbose = verbose
        self.started: dict[str, float] = {}
        self.next_note: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self):
        self.ticker.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.ticker.join(timeout=2)
        self.log.close()

    def _say(self, line: str) -> None:
        if not self.verbose:  # with -v, Dagster's own log already says it
            print(line, file=self.out, flush=True)

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            now = time.monotonic()
            with self.lock:
                for step, since in list(self.started.items()):
                    if now >= self.next_note.get(step, since + PROGRESS_EVERY):
                        self.next_note[step] = now + PROGRESS_EVERY
                        self._say(f"  …       {step} still running ({now - since:.0f} s)")

    def __call__(self, entry) -> None:
        """A Dagster event listener (`instance.add_event_listener`)."""
        event = entry.dagster_event
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.timestamp))
        message = entry.user_message or (event.message if event else "") or ""
        kind = event.event_type_value if event else "LOG"
        self.log.write(f"{stamp} {kind:<24} {entry.step_key or '-'}: {message}\n")
        if event and event.is_step_failure:
            self.log.write("".join(event.event_specific_data.error.to_string()) + "\n")
        self.log.flush()
        if event is None or not entry.step_key:
            return
        step = entry.step_key
        with self.lock:
            if event.is_step_start:
                self.started[step] = time.monotonic()
            elif event.is_step_success or event.is_step_failure or event.is_step_skipped:
                since = self.started.pop(step, None)
                took = f" ({time.monotonic() - since:.1f} s)" if since is not None else ""
                mark = "ok" if event.is_step_success else ("FAILED" if event.is_step_failure else "skipped")
                self._say(f"  {mark:<7} {step}{took}")


def print_summary(duckdb_path: Path, lo: int, hi: int, out=sys.stdout) -> None:
    """The yearly counts, then the evidence coverage of the last year and a banner per criterion left unknown."""
    import duckdb

    from impact_pipeline.defs.reporting.coverage import read_coverage

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
        coverage = read_coverage(con, rows[-1][0]) if rows else {}
    finally:
        con.close()
    header = (
        "year",
        "evaluated",
        "(a) pass",
        "meeting",
        "first",
        "designated",
        "cumulative",
        "designated-not-meeting",
        "meeting-not-designated",
    )
    widths = [max(len(h), 4) for h in header]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), file=out)
    for row in rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)), file=out)
    if coverage:
        print(f"evidence coverage in {rows[-1][0]}:", file=out)
        for item in coverage.values():
            print(f"  {item.line}", file=out)
        for item in coverage.values():
            if item.banner:
                print(f"WARNING: {item.banner}", file=out)


def release_dead_runs(instance) -> None:
    """Runs killed earlier would hold the `duckdb` pool slot forever: fail them, free their slots, say so in a line."""
    from impact_pipeline.lib.runs import release_dead_runs as release

    released = release(instance)
    if released:
        ids = ", ".join(run_id[:8] for run_id in released)
        print(
            f"impact-pipeline: {len(released)} interrupted run(s) whose process is gone marked failed, "
            f"pool slots freed: {ids}",
            file=sys.stderr,
        )


def publication_note(duckdb_path: Path, before: str | None) -> str:
    """What a failed run did to the published outputs, read from the publication pointer (never assumed)."""
    from impact_pipeline.lib.warehouse import current_publication

    after = current_publication(duckdb_path)
    if after == before:
        return f"published outputs left unchanged: {duckdb_path}"
    return (
        f"this run PUBLISHED {duckdb_path} (publication {after}) before a later step failed; "
        f"the previous one is kept in {Path(duckdb_path).stem}.publications/previous"
    )


def cmd_materialize(args: argparse.Namespace) -> int:
    if args.sample:
        os.environ["IMPACT_SAMPLE"] = "1"
    if args.offline:
        os.environ["IMPACT_OFFLINE"] = "1"
    from impact_pipeline.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    home = ensure_dagster_home(settings.sample)

    import dagster as dg

    from impact_pipeline.definitions import build_definitions
    from impact_pipeline.defs.partitions import yearly_partitions

    keys = yearly_partitions.get_partition_keys()
    lo, hi = parse_years(args.years, int(keys[0]), int(keys[-1]))
    defs = build_definitions(settings)
    job = defs.resolve_job_def("impact_job")
    mode = settings.mode
    print(f"impact-pipeline: evaluating {lo}–{hi} from {settings.registry_url} ({mode} sources)", file=sys.stderr)
    from filelock import FileLock

    run_id = str(uuid.uuid4())  # known before the run starts, so the progress listener can follow it
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{run_id}.log"
    # One CLI run at a time on the same working area: a second cron run waits for the first instead of
    # interleaving its writes (steps are already serialised by the warehouse lock, this makes runs atomic).
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.work_dir / "run.lock")), Progress(log_path, verbose=args.verbose) as progress:
        instance = dg.DagsterInstance.get()  # inside the lock: two CLIs never initialise one SQLite store at once
        release_dead_runs(instance)
        from impact_pipeline.lib.warehouse import current_publication

        published_before = current_publication(settings.duckdb_path)
        instance.add_event_listener(run_id, progress)
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={RANGE_START: str(lo), RANGE_END: str(hi), "impact/trigger": "cli", MODE_TAG: mode},
            # Dagster's own console log only with -v: by default a person reads one line per step.
            run_config={"loggers": {"console": {"config": {"log_level": "INFO" if args.verbose else "CRITICAL"}}}},
            raise_on_error=False,
        )
    if not result.success:
        print(f"impact-pipeline: run {result.run_id} FAILED", file=sys.stderr)
        for step, cause in _failures(result.all_events) or [("run", "see the full log")]:
            print(f"  step:  {step}\n  cause: {cause}\n  fix:   {fix_for(f'{step} {cause}')}", file=sys.stderr)
        print(f"  {publication_note(settings.duckdb_path, published_before)}", file=sys.stderr)
        print(f"  full log: {log_path}", file=sys.stderr)
        return EXIT_FAILED
    print(f"impact-pipeline: run {result.run_id} succeeded; published {settings.duckdb_path}")
    print(f"CSV and spreadsheet exports in {settings.export_dir}; full log: {log_path}")
    print_summary(settings.duckdb_path, lo, hi)
    from impact_pipeline.sources_cli import print_coverage

    print_coverage(settings.duckdb_path)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    if args.sample:
        os.environ["IMPACT_SAMPLE"] = "1"
    from impact_pipeline.explain import run
    from impact_pipeline.settings import Settings

    return run(Settings.from_env().duckdb_path, args.startup_id, args.year)


def cmd_sql(args: argparse.Namespace) -> int:
    """A read-only SQL shell on the published file (DuckDB's Python client: no separate CLI to install)."""
    if args.sample:
        os.environ["IMPACT_SAMPLE"] = "1"
    from impact_pipeline.defs.reporting.data import NoPublishedData, connect_published
    from impact_pipeline.settings import Settings

    path = Settings.from_env().duckdb_path
    try:
        con = connect_published(path)
    except NoPublishedData as exc:
        print(f"impact-pipeline sql: {exc}", file=sys.stderr)
        return EXIT_FAILED
    import duckdb

    def run_one(statement: str) -> bool:
        try:
            relation = con.sql(statement)
        except duckdb.Error as exc:
            print(f"error: {str(exc).strip()}", file=sys.stderr)
            return False
        if relation is not None:
            relation.show(max_width=10_000, max_rows=args.max_rows)
        return True

    try:
        if args.command_text is not None:
            return EXIT_OK if run_one(args.command_text) else EXIT_FAILED
        interactive = sys.stdin.isatty()
        if interactive:
            print(f"{path} (read-only). End each statement with ';'. Ctrl-D to quit.", file=sys.stderr)
        buffer, ok = "", True
        while True:
            try:
                line = input("sql> " if not buffer else "...> ") if interactive else sys.stdin.readline()
            except EOFError:
                break
            if not interactive and line == "":
                break
            buffer += line + ("\n" if interactive else "")
            if buffer.strip().endswith(";"):
                ok = run_one(buffer) and ok
                buffer = ""
        if buffer.strip():
            ok = run_one(buffer) and ok
        return EXIT_OK if ok or interactive else EXIT_FAILED
    finally:
        con.close()


def build_parser() -> argparse.ArgumentParser:
    """The command line; a subcommand is a `sub.add_parser(...)` with `set_defaults(func=...)`."""
    parser = argparse.ArgumentParser(prog="impact-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="refresh the sources, evaluate years and publish")
    mat.add_argument("--years", help=f"YEAR or FIRST:LAST (default: 2016 to {date.today().year})")
    mat.add_argument("--sample", action="store_true", help="use the bundled sample world in data/sample/")
    mat.add_argument(
        "--offline",
        action="store_true",
        help="disable every network source (usage, observatoire, forges, page checks); "
        "needs a local registry file in IMPACT_REGISTRY_URL",
    )
    mat.add_argument("--verbose", "-v", action="store_true", help="show Dagster's step logs as they come")
    mat.set_defaults(func=cmd_materialize)
    exp = sub.add_parser("explain", help="why a service meets the criteria or not, with the evidence (published data)")
    exp.add_argument("startup_id", help="registry id of the service, e.g. exemple-boussole-demo")
    exp.add_argument("--year", type=int, help="explain this year only (default: history, then the latest year)")
    exp.add_argument("--sample", action="store_true", help="read the sample world's published file")
    exp.set_defaults(func=cmd_explain)
    sql = sub.add_parser("sql", help="read-only SQL on the published DuckDB file (a shell, or -c STATEMENT)")
    sql.add_argument("-c", dest="command_text", metavar="STATEMENT", help="run one statement and exit")
    sql.add_argument("--sample", action="store_true", help="read the sample world's published file")
    sql.add_argument("--max-rows", type=int, default=100, help="rows shown per result (default 100)")
    sql.set_defaults(func=cmd_sql)
    from impact_pipeline.sources_cli import add_parser as add_sources_parser

    add_sources_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, with argparse's message
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"impact-pipeline {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
