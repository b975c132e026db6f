"""A run whose process died (SIGKILL, a crash of `dagster dev`) never blocks the next one: it is marked failed and
its `duckdb` pool slot is freed, by the CLI before each run and, for UI runs, by the run launcher and run monitoring
configured in dagster.yaml."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from impact_pipeline.lib.runs import LocalRunLauncher, process_alive, release_dead_runs
from impact_pipeline.settings import PROJECT_ROOT, SAMPLE_DIR
from impact_pipeline_tests.guarantees.test_faults import cli
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.pipeline import PipelinePaths

SAMPLE = json.loads((SAMPLE_DIR / "startups.json").read_text(encoding="utf-8"))
NOTICE = "interrupted run(s) whose process is gone marked failed, pool slots freed"


def instance_of(home) -> dg.DagsterInstance:
    """The project's instance configuration (dagster.yaml) with its storage in `home`."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def started_run(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    """A STARTED run whose process Dagster recorded as `pid` (the engine event every executor writes)."""
    from dagster._core.events import EngineEventData
    from dagster._core.test_utils import create_run_for_test

    run = create_run_for_test(instance, job_name="impact_job", status=dg.DagsterRunStatus.STARTED)
    instance.report_engine_event(f"Executing steps in process (pid: {pid})", run, EngineEventData.in_process(pid))
    return run


def test_the_instance_fails_dead_runs_frees_their_slots_and_leaves_live_ones(tmp_path):
    instance = instance_of(tmp_path / "home")
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_monitoring_enabled and instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb", 1)
    dead, alive = started_run(instance, dead_pid()), started_run(instance, os.getpid())
    assert storage.claim_concurrency_slot("duckdb", dead.run_id, "registry_raw").is_claimed

    # what run monitoring asks the launcher for each STARTED run (in the daemon `dagster dev` starts)
    assert instance.run_launcher.check_run_worker_health(dead).status.value == "FAILED"
    assert instance.run_launcher.check_run_worker_health(alive).status.value == "RUNNING"

    assert release_dead_runs(instance) == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert storage.get_concurrency_info("duckdb").claimed_slots == []
    assert storage.claim_concurrency_slot("duckdb", alive.run_id, "registry_raw").is_claimed
    assert release_dead_runs(instance) == []  # nothing more to release; the live run keeps its slot
    assert len(storage.get_concurrency_info("duckdb").claimed_slots) == 1


def test_a_reused_pid_is_not_taken_for_the_run_process():
    # this process started long after a pid seen a million seconds ago: that pid belonged to another process
    assert process_alive(os.getpid(), time.time())
    assert not process_alive(os.getpid(), time.time() - 1_000_000)
    assert not process_alive(dead_pid(), time.time())


@pytest.mark.timeout(600)
def test_a_cli_run_killed_while_holding_the_pool_slot_does_not_block_the_next_cli_run(tmp_path):
    paths, home = PipelinePaths(tmp_path), tmp_path / "dagster_home"
    with LocalServer({"/v1.json": Route(body=SAMPLE)}) as server:
        first = cli(paths, server.url("/v1.json"), "2025", home)
        deadline = time.monotonic() + 240
        holder = None
        while holder is None:
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the run never claimed the duckdb slot"
            time.sleep(0.05)
            if (home / "dagster.yaml").exists() and (home / "storage").exists():
                try:
                    claimed = instance_of(home).event_log_storage.get_concurrency_info("duckdb").claimed_slots
                except Exception:  # the storage is still being created by the CLI
                    continue
                holder = claimed[0].run_id if claimed else None
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        instance = instance_of(home)
        assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.STARTED  # what used to block for ever

        second = cli(paths, server.url("/v1.json"), "2025", home)
        try:
            output = second.communicate(timeout=300)[0]
        except subprocess.TimeoutExpired:
            second.kill()
            pytest.fail("the next run waited for the dead run's pool slot: " + second.communicate()[0][-2000:])
    assert second.returncode == 0, output
    notices = [line for line in output.splitlines() if NOTICE in line]
    assert len(notices) == 1 and holder[:8] in notices[0], output
    assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []


def test_run_monitoring_in_the_daemon_fails_a_dead_ui_run_and_then_frees_its_slot(tmp_path):
    """After a crash of `dagster dev`, its daemon's run monitoring (what `dagster dev` runs again on restart) fails the
    dead run through the launcher's health check, then frees the slot of the failed run."""
    import logging

    import yaml
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster._daemon.monitoring import execute_concurrency_slots_iteration, execute_run_monitoring_iteration

    home = tmp_path / "home"
    home.mkdir()
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["run_monitoring"]["enabled"] and config["run_launcher"]["class"] == "LocalRunLauncher"
    config["run_monitoring"]["free_slots_after_run_end_seconds"] = 1  # the project waits 10 s; the test cannot
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    instance = instance_of(home)
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb", 1)
    dead, alive = started_run(instance, dead_pid()), started_run(instance, os.getpid())
    assert storage.claim_concurrency_slot("duckdb", dead.run_id, "registry_raw").is_claimed

    logger = logging.getLogger("run_monitoring_test")
    with WorkspaceProcessContext(instance, EmptyWorkspaceTarget()) as context:
        list(execute_run_monitoring_iteration(context, logger))
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        time.sleep(2.5)
        list(execute_concurrency_slots_iteration(context, logger))
    assert storage.get_concurrency_info("duckdb").claimed_slots == []
