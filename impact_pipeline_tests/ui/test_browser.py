"""End to end in a real browser: `dagster dev` on the sample world, opened in headless Chromium.

Checks that the asset graph shows the domain groups, runs the sample (one run of `impact_job` over every
year, launched through the webserver's GraphQL API like the launchpad does), waits for its success in the
UI, looks at the chart on its asset page, and saves screenshots for people (`data/ui/`, git-ignored).
Skips only when no Chromium binary exists (`.ci/run` installs Debian's `chromium`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_TIMEOUT_S = 120
RUN_TIMEOUT_S = 240
UI_TIMEOUT_MS = 60_000


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip(
        "no Chromium browser found: install Debian's `chromium` package (apt-get install chromium), "
        "as .ci/run does, to run the browser test"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _wait_for_server(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                if response.status == 200:
                    # The webserver answers before the code location is loaded: wait for the job too.
                    data = _graphql(
                        base,
                        '{ workspaceOrError { ... on Workspace { locationEntries { name '
                        'locationOrLoadError { __typename } } } } }',
                    )
                    entries = data["workspaceOrError"]["locationEntries"]
                    if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                        return
                    if entries and entries[0]["locationOrLoadError"]["__typename"] == "PythonError":
                        pytest.fail(f"the code location failed to load:\n{log.read_text()[-3000:]}")
        except OSError:
            pass
        time.sleep(0.25)  # only waits: a shorter poll starts the run sooner
    pytest.fail(f"dagster dev did not answer within {SERVER_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""


def _launch_sample_run(base: str, last_year: int) -> str:
    params = {
        "selector": {
            "repositoryLocationName": "impact_pipeline",
            "repositoryName": "__repository__",
            "jobName": "impact_job",
        },
        # One process for the whole run (the steps share one DuckDB file and run one at a time anyway).
        "runConfigData": {},  # the code location's default executor runs every step in one process
        "executionMetadata": {
            "tags": [
                {"key": "dagster/asset_partition_range_start", "value": "2016"},
                {"key": "dagster/asset_partition_range_end", "value": str(last_year)},
                {"key": "impact/trigger", "value": "browser-test"},
            ]
        },
    }
    result = _graphql(base, LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _wait_for_run(base: str, run_id: str, log: Path) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        data = _graphql(base, 'query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }', {"id": run_id})
        status = data["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.5)
    pytest.fail(f"run {run_id} still {status} after {RUN_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the `dagster dev` process group this test started (webserver, daemon, code servers)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        # Nothing is checked on shutdown: a short grace, then the whole group (every process of it) is killed.
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.timeout(600)
def test_ui_shows_the_groups_runs_the_sample_and_is_screenshotted(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "IMPACT_SAMPLE": "1",
        "IMPACT_DUCKDB_PATH": str(out / "impact.duckdb"),
        "IMPACT_EXPORT_DIR": str(out / "exports"),
        "IMPACT_WORK_DIR": str(out / "work"),
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "dagster_dev.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_server(base, proc, log)
        run_id = _launch_sample_run(base, date.today().year)
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 1000},
            )
            # Keep Dagster's one-time "join the community" dialog from covering the page.
            context.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()

            # 1. The asset graph shows the domain groups.
            page.goto(f"{base}/asset-groups")
            for group in ("registry", "impact"):
                expect(page.get_by_text(group, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            # The open asset graph polls the webserver for every asset's latest state (every 2 s) and redraws:
            # CPU the run needs. Nothing is checked on it while the run goes on, so leave it until then.
            page.goto("about:blank")

            # 2. The run launched on the sample succeeds, and the UI says so.
            status = _wait_for_run(base, run_id, log)
            assert status == "SUCCESS", f"run {run_id} ended {status}:\n{log.read_text()[-3000:]}"
            page.goto(f"{base}/runs/{run_id}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)

            # 3. The impact group's assets after the run, for people: the screenshot.
            page.goto(f"{base}/locations/__repository__@impact_pipeline/asset-groups/impact")
            expect(page.get_by_text("published_outputs", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.wait_for_timeout(1500)  # let the graph finish its layout animation
            screenshot = tmp_path / "ui_screenshot.png"
            page.screenshot(path=str(screenshot))

            # 4. The chart is shown on its asset page (markdown metadata with an inline PNG).
            page.goto(f"{base}/assets/national_impact_chart")
            page.get_by_role("row", name=re.compile(r"^chart\b")).get_by_text("[Show Markdown]").click()
            chart = page.get_by_role("dialog").locator('img[src^="data:image/png;base64,"]').first
            expect(chart).to_be_visible(timeout=UI_TIMEOUT_MS)
            assert page.evaluate("(img) => img.naturalWidth", chart.element_handle()) == 1000
            chart_screenshot = tmp_path / "ui_chart.png"
            page.screenshot(path=str(chart_screenshot))
            context.close()
    finally:
        _stop(proc)

    assert screenshot.stat().st_size > 20_000
    keep = ROOT / "data" / "ui"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, keep / "ui_screenshot.png")
    shutil.copyfile(chart_screenshot, keep / "ui_chart.png")
    # The run published the sample and its report, as a person would then open them.
    assert (out / "exports" / f"report_{date.today().year}.html").exists()
