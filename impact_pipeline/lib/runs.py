"""Runs whose process died: mark them failed and free their pool slots, so that a killed run never blocks the next.

A SIGKILLed run (or one whose `dagster dev` crashed) stays STARTED in the run storage and keeps the `duckdb`
pool slot its step claimed; the next run then waits for that slot forever. Dagster records the pid of every
run's process (an engine event); a run none of whose recorded processes is alive is dead. The CLI calls
`release_dead_runs` before each run; for runs launched from the UI, `LocalRunLauncher` (dagster.yaml) lets
Dagster's run monitoring see dead run workers, and does the same cleanup before it launches a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):  # pragma: no cover
        return 100


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_alive(pid: int, seen_at: float) -> bool:
    """Whether the process that had `pid` at time `seen_at` still runs (not a zombie, not a later reuse of the pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (command name)"
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None:
        return True
    started = boot + int(fields[19]) / _clock_ticks()
    return started <= seen_at + 2  # a process started after Dagster saw the pid is another process


def recorded_pids(instance: dg.DagsterInstance, run_id: str) -> dict[int, float]:
    """Every pid Dagster recorded for the run (run worker, executor, step processes) → when it was seen."""
    pids: dict[int, float] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        value = (data.metadata or {}).get("pid") if data else None
        text = getattr(value, "value", value)
        try:
            pids.setdefault(int(str(text)), entry.timestamp)
        except (TypeError, ValueError):
            continue
    return pids


def run_is_dead(instance: dg.DagsterInstance, run_id: str) -> bool:
    """True when the run recorded processes and none of them is alive (a run that recorded none yet is not judged)."""
    pids = recorded_pids(instance, run_id)
    return bool(pids) and not any(process_alive(pid, seen) for pid, seen in pids.items())


def _local_storage(instance: dg.DagsterInstance) -> bool:
    """Pids mean something only when every run of this storage runs on this machine (SQLite or in-memory)."""
    return type(instance.run_storage).__name__ in ("SqliteRunStorage", "InMemoryRunStorage")


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run whose processes are gone, and free the pool slots of every finished run
    that still holds some. Returns the ids of the runs whose slots or status were released."""
    if not _local_storage(instance):
        return []
    released: list[str] = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=list(IN_PROGRESS))):
        run = record.dagster_run
        if not run_is_dead(instance, run.run_id):
            continue
        instance.report_run_failed(
            run,
            "Marked failed: no process of this run is alive any more "
            "(killed, or `dagster dev` crashed); its pool slots were freed.",
        )
        released.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        if holders:
            for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holders))):
                if record.dagster_run.is_finished:
                    storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
                    if record.dagster_run.run_id not in released:
                        released.append(record.dagster_run.run_id)
    return released


class LocalRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default launcher, plus a health check of run workers (their pid) for run monitoring, and the
    release of dead runs before each launch (a UI run after a crash of `dagster dev` does not wait forever)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        instance = self._instance
        if not _local_storage(instance):
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "run storage is not local: pids are not comparable")
        pids = recorded_pids(instance, run.run_id)
        if not pids:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no process recorded yet")
        if any(process_alive(pid, seen) for pid, seen in pids.items()):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"no process of the run is alive (pids {sorted(pids)})")

    def launch_run(self, context) -> None:
        try:
            release_dead_runs(self._instance)
        except Exception:  # the cleanup must never stop a launch; run monitoring retries it
            import logging

            logging.getLogger(__name__).exception("could not release dead runs before launching")
        super().launch_run(context)
