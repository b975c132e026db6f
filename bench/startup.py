"""Target 4 (start-up): loading the code location costs at most 1.5x `import dagster` alone.

    python bench/startup.py [--repeat 7]

Each measurement is a fresh interpreter (`python -c ...`, timed from the parent, so interpreter start-up
is in both); the median of `--repeat` runs is compared. "Loading the code location" is what the UI's code
server and every run do first: import `impact_pipeline.definitions` (which builds the Definitions) and
resolve the repository (every asset, check, job and schedule). The bench also lists which heavy modules
(Great Expectations, pandas, DuckDB, matplotlib, jinja2, requests...) that import pulled in: the first four
must be absent (the test suite asserts it too, in test_import_hygiene.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
FORBIDDEN = ("great_expectations", "pandas", "duckdb", "matplotlib")
WATCHED = FORBIDDEN + ("numpy", "jinja2", "requests", "urllib3", "yaml", "filelock", "pyarrow", "sqlalchemy")

BASELINE = "import dagster"
CODE_LOCATION = (
    "import impact_pipeline.definitions as d; "
    "repo = d.defs.get_repository_def(); repo.get_all_jobs(); len(repo.asset_graph.get_all_asset_keys())"
)
MODULES = (
    "import sys, json; import impact_pipeline.definitions as d; d.defs.get_repository_def(); "
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(WATCHED)!r}))))"
)


def timed(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    env.pop("IMPACT_SAMPLE", None)

    # Warm the file cache and the bytecode once, so neither side pays the first compile.
    timed(BASELINE, env)
    timed(CODE_LOCATION, env)
    base, location = [], []
    for _ in range(args.repeat):  # interleaved, so that machine noise hits both alike
        base.append(timed(BASELINE, env))
        location.append(timed(CODE_LOCATION, env))
    heavy = json.loads(
        subprocess.run(
            [sys.executable, "-c", MODULES], check=True, cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )

    b, loc = statistics.median(base), statistics.median(location)
    ratio = loc / b
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load:.1f}; "
        f"median of {args.repeat} fresh interpreters"
    )
    print(f"  `import dagster`                        {b:6.2f} s  (min {min(base):.2f}, max {max(base):.2f})")
    print(f"  load the code location (import + repo)  {loc:6.2f} s  (min {min(location):.2f}, max {max(location):.2f})")
    print(f"  ratio {ratio:.2f}x (target <= {TARGET_RATIO:g}x): {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    bad = [m for m in heavy if m in FORBIDDEN]
    print(f"  watched modules imported by the code location: {', '.join(heavy) or 'none'}")
    print(
        f"  forbidden at import time ({', '.join(FORBIDDEN)}): {'none: PASS' if not bad else ', '.join(bad) + ': FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
