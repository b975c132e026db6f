"""Loading the code location imports no heavy library: the UI and every run load it first (issue target 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("great_expectations", "pandas", "duckdb", "matplotlib")


def test_loading_the_code_location_imports_no_heavy_library():
    # A fresh interpreter: this test process has long imported pandas and DuckDB itself.
    code = (
        "import sys, json\n"
        "import impact_pipeline.definitions as d\n"
        "d.defs.get_repository_def()\n"  # resolve every asset, check, job and schedule, as the code server does
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "IMPACT_SAMPLE"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "dagster" in loaded  # the probe did load the code location
    assert sorted(loaded & set(HEAVY)) == []
