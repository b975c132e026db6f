"""GX is imported in the background only when a step knows a gate will need it, and only for runs with gates."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# In a fresh interpreter (this one has imported GX long ago): what starts the background import, and what does not.
PROBE = """
import sys, threading, time
import dagster as dg
from impact_pipeline.defs.gates.resources import GateEngine, preload_for_gates

def preloading():
    return any(t.name == "preload-great-expectations" for t in threading.enumerate())

def importing():
    return preloading() or "great_expectations" in sys.modules

assert preload_for_gates() is False and not importing(), "no run with gates: nothing starts"
GateEngine(preload=False).setup_for_execution(dg.build_init_resource_context())
assert preload_for_gates() is False and not importing(), "preload off: nothing starts"
GateEngine().setup_for_execution(dg.build_init_resource_context())
assert not importing(), "setting up the resource does not import GX by itself"
assert preload_for_gates() is True and importing(), "a step asking for it starts the import"
assert preload_for_gates() is False, "once per process"
for _ in range(600):
    if "great_expectations.expectations" in sys.modules and not preloading():
        break
    time.sleep(0.1)
print("imported", "great_expectations.expectations" in sys.modules)
"""


def test_gx_is_imported_in_the_background_only_when_a_step_asks_and_gates_run():
    env = {k: v for k, v in os.environ.items() if k != "IMPACT_SAMPLE"}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "imported True"
