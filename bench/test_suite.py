"""Target 5 (tests): the whole suite, run with the README's command, takes under 5 minutes on 2 cores.

    python bench/test_suite.py [extra pytest arguments]

Runs `python -m pytest -q` (the README's test command, which `.ci/run` runs) from the project root and
prints its wall time, its closing line and the machine's CPU count. The file is named after what it
measures; it lives in bench/, outside pytest's `testpaths`, so the suite never runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 300.0


def main() -> int:
    command = [sys.executable, "-m", "pytest", "-q", *sys.argv[1:]]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    closing = lines[-1] if lines else "(no output)"
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average before {load_before:.1f}")
    print(f"  command: {' '.join(['python', '-m', 'pytest', '-q', *sys.argv[1:]])} (exit {proc.returncode})")
    print(f"  pytest: {closing}")
    print(
        f"  wall time {seconds:6.1f} s (target < {TARGET_SECONDS:g} s on 2 cores): "
        f"{'PASS' if seconds < TARGET_SECONDS else 'FAIL'}"
    )
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
