"""Target 3 (scale): a synthetic registry 100x the real one through ingest and every year's evaluation.

    python bench/scale.py [--factors 10,100] [--keep]

For each factor the bench
  1. generates a registry `factor` times the real snapshot (../shared/data/betagouv/startups.json) into a
     temp dir: every real record is copied `factor` times with a unique id, and all the dates of a copy
     are shifted by the same random number of days (-90..+90, seeded), so the field distributions, the
     phase patterns (ties, disorder, missing ends, unknown names), the events (national_impact
     included) and the missing fields are the real ones;
  2. measures the floor: DuckDB reading the same JSON file (`read_json`) and computing criterion (a) for
     every year (phase at Dec 31 with the tie rule, qualifying or not) in one SQL statement;
  3. serves the file from 127.0.0.1 and runs the real Dagster job (`impact_job`, every year from 2016 to
     the current one: fetch, parse, evaluate, summarise, publish) in a child process, which reports the
     run's wall time, each step's time and its peak RSS;
  4. checks that the pipeline's criterion (a) verdict counts equal the floor's (same rule, same data).

Targets: pipeline <= 3x floor, peak RSS < 1.5 GB at 100x, and 10x more services <= 12x the time
(compared between the two largest factors). The registry is larger than the HTTP layer's default size
cap (25 MiB), so the bench sets IMPACT_HTTP_MAX_BYTES (production needs the same when the registry grows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_SNAPSHOT = ROOT.parent / "shared" / "data" / "betagouv" / "startups.json"

TARGET_FLOOR_RATIO = 3.0
TARGET_PEAK_BYTES = 1.5e9
TARGET_SCALING = 12.0
# Left out unless --full: target 3 is about ingest and evaluation; these publish the results.
PUBLISH_ASSETS = {"published_outputs", "national_impact_chart", "national_impact_report"}


# -- 1. synthetic registry ------------------------------------------------------------------------
def _shift(value, days: int):
    """Shift an ISO date string by `days`, keeping whatever follows the date; anything else is kept as is."""
    if not isinstance(value, str) or len(value) < 10:
        return value
    try:
        shifted = date.fromisoformat(value[:10]) + timedelta(days=days)
    except ValueError:
        return value  # unparsable dates stay unparsable (the pipeline records them as findings)
    return shifted.isoformat() + value[10:]


def _copy(record: dict, suffix: str, days: int) -> dict:
    out = json.loads(json.dumps(record))
    if isinstance(out.get("id"), str):
        out["id"] = f"{out['id']}-{suffix}"
    attrs = out.get("attributes")
    if isinstance(attrs, dict):
        for key in ("phases", "events"):
            for entry in attrs.get(key) or []:
                if isinstance(entry, dict):
                    for field in ("start", "end", "date"):
                        if field in entry:
                            entry[field] = _shift(entry[field], days)
    return out


def generate(factor: int, path: Path, seed: int = 20260101) -> dict:
    """Write a registry `factor` times the real one to `path`; returns its size and record count."""
    document = json.loads(REAL_SNAPSHOT.read_text(encoding="utf-8"))
    rng = random.Random(seed + factor)
    records = document["data"]
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"links": ' + json.dumps(document.get("links", {})) + ', "data": [')
        for copy_index in range(factor):
            for record in records:
                # Copy 0 is the real record (shift 0, id unchanged) so 1x is the real snapshot.
                shifted = record if copy_index == 0 else _copy(record, f"s{copy_index:03d}", rng.randint(-90, 90))
                fh.write((", " if n else "") + json.dumps(shifted, ensure_ascii=False))
                n += 1
        fh.write('], "included": ' + json.dumps(document.get("included", []), ensure_ascii=False) + "}")
    return {"factor": factor, "path": str(path), "records": n, "bytes": path.stat().st_size}


# -- 2. the floor: DuckDB alone --------------------------------------------------------------------
FLOOR_SQL = """
WITH records AS (
    SELECT unnest(data) AS r
    FROM read_json(?, format = 'unstructured', maximum_object_size = 2147483647,
                   columns = {data:
                       'STRUCT(id VARCHAR, attributes STRUCT(phases STRUCT(name VARCHAR, "start" VARCHAR)[]))[]'})
),
phases AS (
    SELECT r.id AS startup_id, unnest(r.attributes.phases) AS p, unnest(range(len(r.attributes.phases))) AS position
    FROM records
),
norm AS (
    SELECT startup_id, position,
           CASE lower(trim(p.name))
               WHEN 'success' THEN 'transfere' WHEN 'transfer' THEN 'consolidation'
               WHEN 'perennisation' THEN 'consolidation' WHEN 'alumni' THEN 'abandon'
               WHEN 'investigation' THEN 'investigation' WHEN 'abandon-investigation' THEN 'abandon-investigation'
               WHEN 'construction' THEN 'construction' WHEN 'acceleration' THEN 'acceleration'
               WHEN 'consolidation' THEN 'consolidation' WHEN 'opere' THEN 'opere'
               WHEN 'transfere' THEN 'transfere' WHEN 'abandon' THEN 'abandon' END AS phase,
           try_cast(left(trim(p."start"), 10) AS DATE) AS start_date
    FROM phases
    WHERE nullif(trim(p.name), '') IS NOT NULL
),
ranked AS (
    SELECT *, CASE phase WHEN 'investigation' THEN 0 WHEN 'abandon-investigation' THEN 1 WHEN 'construction' THEN 2
                  WHEN 'acceleration' THEN 3 WHEN 'consolidation' THEN 4 WHEN 'opere' THEN 5
                  WHEN 'transfere' THEN 6 WHEN 'abandon' THEN 7 ELSE -1 END AS lifecycle_rank
    FROM norm WHERE start_date IS NOT NULL
),
at_year_end AS (
    SELECT y.year, r.startup_id, arg_max_null(r.phase, (r.start_date, r.lifecycle_rank, r.position)) AS phase
    FROM range(?, ? + 1) y(year)
    JOIN ranked r ON r.start_date <= make_date(y.year, 12, 31)
    GROUP BY ALL
)
SELECT year,
       CASE WHEN phase IS NULL THEN 'unknown'
            WHEN phase IN ('acceleration', 'consolidation', 'opere', 'transfere') THEN 'pass'
            ELSE 'fail' END AS verdict,
       count(*) AS n
FROM at_year_end GROUP BY ALL ORDER BY ALL
"""


def floor(path: Path, first: int, last: int) -> dict:
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(FLOOR_SQL, [str(path), first, last]).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "verdicts": {f"{y}:{v}": n for y, v, n in rows}}


# -- 3. the real pipeline, in a child process -----------------------------------------------------
def _child(args: argparse.Namespace) -> None:
    """Runs in the child: the real job over every year, then prints one JSON line of figures."""
    import dagster as dg

    from impact_pipeline.definitions import build_definitions
    from impact_pipeline.defs.partitions import yearly_partitions
    from impact_pipeline_tests.support.pipeline import PipelinePaths, failure_text

    keys = yearly_partitions.get_partition_keys()
    first, last = int(keys[0]), int(keys[-1])
    paths = PipelinePaths(Path(args.root))
    settings = paths.settings(args.url)  # usage and quality sources off: no network but the registry
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME: SQLite run/event storage, as the CLI uses
    job = build_definitions(settings).resolve_job_def("impact_job")
    selection = None
    if not args.full:  # ingest and evaluation (with their gates); not the publication, chart and report
        graph = job.asset_layer.asset_graph
        selection = [k for k in graph.get_all_asset_keys() if k.to_user_string() not in PUBLISH_ASSETS]
    samples: list[tuple[float, int]] = []
    sampling = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(samples, sampling), daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=selection,
        tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
        raise_on_error=False,
    )
    seconds = time.perf_counter() - started
    sampling.set()
    sampler.join()
    steps: dict[str, float] = {}
    step_rss: dict[str, int] = {}
    starts: dict[str, float] = {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            begin = starts[event.step_key]
            steps[event.step_key] = round(entry.timestamp - begin, 2)
            step_rss[event.step_key] = max((rss for t, rss in samples if begin <= t <= entry.timestamp), default=0)
    verdicts = {}
    if result.success:
        import duckdb

        con = duckdb.connect(str(paths.duckdb_path if args.full else paths.work_dir / "impact.duckdb"), read_only=True)
        rows = con.execute(
            "SELECT year, criterion_a, count(*) FROM national_impact GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        con.close()
        verdicts = {f"{y}:{v}": n for y, v, n in rows}
    print(
        "BENCH "
        + json.dumps(
            {
                "success": result.success,
                "failure": "" if result.success else failure_text(result)[-2000:],
                "seconds": seconds,
                "steps": steps,
                "step_rss": step_rss,
                "first": first,
                "last": last,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "verdicts": verdicts,
            }
        ),
        flush=True,
    )


def _sample_rss(samples: list, done: threading.Event, every: float = 0.05) -> None:
    """Record (time, RSS bytes) of this process until `done` is set: each step's own peak comes from it."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not done.wait(every):
        try:
            with open("/proc/self/statm") as statm:
                samples.append((time.time(), int(statm.read().split()[1]) * page))
        except OSError:  # not Linux: no per-step figure
            return


def run_pipeline(path: Path, workdir: Path, profile: str | None = None, full: bool = False) -> dict:
    from impact_pipeline_tests.support.http_server import LocalServer, Route

    body = path.read_bytes()
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "IMPACT_ALLOW_PRIVATE_NETWORK": "1",
        # The synthetic registry is far above the 25 MiB default cap.
        "IMPACT_HTTP_MAX_BYTES": str(max(len(body) * 2, 25 * 1024 * 1024)),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    with LocalServer({"/startups.json": Route(200, body, {"Content-Type": "application/json"})}) as server:
        del body
        command = [sys.executable]
        if profile:
            command += ["-m", "cProfile", "-o", profile]
        command += [
            str(Path(__file__).resolve()),
            "--child",
            "--url",
            server.url("/startups.json"),
            "--root",
            str(workdir / "pipeline"),
        ] + (["--full"] if full else [])
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"pipeline child failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    figures = json.loads(lines[-1][len("BENCH ") :])
    if not figures["success"]:
        raise SystemExit(f"the pipeline run failed:\n{figures['failure']}")
    figures["process_seconds"] = wall
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", default="10,100", help="comma-separated multiples of the real registry")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (registries, DuckDB files)")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest run (into the system temp dir)")
    parser.add_argument(
        "--full", action="store_true", help="run the whole job, publication, chart and HTML report included"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return 0
    if not REAL_SNAPSHOT.exists():
        print(f"real registry snapshot not found at {REAL_SNAPSHOT}: nothing to scale", file=sys.stderr)
        return 2

    from impact_pipeline.defs.partitions import yearly_partitions

    keys = yearly_partitions.get_partition_keys()
    first, last = int(keys[0]), int(keys[-1])
    factors = sorted({int(f) for f in args.factors.split(",")})
    tmp = Path(tempfile.mkdtemp(prefix="impact-bench-scale-"))
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}; "
        f"years {first}-{last}; temp dir {tmp}"
    )
    results = {}
    try:
        for factor in factors:
            path = tmp / f"startups-{factor}x.json"
            started = time.perf_counter()
            info = generate(factor, path)
            gen_seconds = time.perf_counter() - started
            fl = floor(path, first, last)
            profile = None
            if args.profile and factor == factors[-1]:
                profile = str(Path(tempfile.gettempdir()) / f"impact-bench-scale-{factor}x.prof")
                print(f"       profiling the {factor}x run into {profile} (python -m pstats {profile})")
            pipe = run_pipeline(path, tmp / f"run-{factor}x", profile=profile, full=args.full)
            same = pipe["verdicts"] == fl["verdicts"]
            results[factor] = {
                **info,
                "floor": fl["seconds"],
                "pipeline": pipe["seconds"],
                "process": pipe["process_seconds"],
                "peak": pipe["peak_rss_bytes"],
                "steps": pipe["steps"],
                "step_rss": pipe.get("step_rss", {}),
                "same_verdicts": same,
            }
            r = results[factor]
            print(
                f"{factor:>4}x: {r['records']:>6} services, {r['bytes'] / 1e6:7.1f} MB "
                f"(generated in {gen_seconds:.1f} s) | "
                f"floor {r['floor']:6.2f} s | pipeline {r['pipeline']:6.2f} s (process {r['process']:.1f} s) | "
                f"ratio {r['pipeline'] / r['floor']:5.2f}x | peak RSS {r['peak'] / 1e6:6.0f} MB | "
                f"criterion (a) counts {'equal' if same else 'DIFFER'} to the floor's",
                flush=True,
            )
            print(
                "       steps: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(r["steps"].items(), key=lambda kv: -kv[1]))
            )
            if r["step_rss"]:
                top = sorted(r["step_rss"].items(), key=lambda kv: -kv[1])[:8]
                print(
                    "       peak RSS during the step (largest): " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in top)
                )
            if not same:
                diff = {
                    k: (pipe["verdicts"].get(k), fl["verdicts"].get(k))
                    for k in sorted(set(pipe["verdicts"]) | set(fl["verdicts"]))
                    if pipe["verdicts"].get(k) != fl["verdicts"].get(k)
                }
                print(f"       (pipeline, floor) differ on: {diff}")
            if not args.keep:
                shutil.rmtree(tmp / f"run-{factor}x", ignore_errors=True)
                path.unlink(missing_ok=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    big = results[factors[-1]]
    print()
    print(f"target 3 at {factors[-1]}x ({big['records']} services), {os.cpu_count()} CPUs:")
    ratio = big["pipeline"] / big["floor"]
    print(
        f"  time vs floor   {ratio:5.2f}x (target <= {TARGET_FLOOR_RATIO:g}x): "
        f"{'PASS' if ratio <= TARGET_FLOOR_RATIO else 'FAIL'}"
    )
    print(
        f"  peak memory     {big['peak'] / 1e9:5.2f} GB (target < {TARGET_PEAK_BYTES / 1e9:g} GB): "
        f"{'PASS' if big['peak'] < TARGET_PEAK_BYTES else 'FAIL'}"
    )
    if len(factors) >= 2:
        lo, hi = factors[-2], factors[-1]
        growth = results[hi]["pipeline"] / results[lo]["pipeline"]
        allowed = TARGET_SCALING * (hi / lo) / 10
        print(
            f"  scaling         {hi // lo}x services ({lo}x -> {hi}x) cost {growth:5.2f}x the time "
            f"(target <= {allowed:g}x): {'PASS' if growth <= allowed else 'FAIL'}"
        )
    ok = all(r["same_verdicts"] for r in results.values())
    print(f"  criterion (a) verdict counts equal to the floor's at every size: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
