import os
import shutil
from collections.abc import Iterator

import pytest

from impact_pipeline_tests.support.http_server import LocalServer, Route


def pytest_configure(config):
    """Temporary folders in memory (/dev/shm) when it has room and no other place was asked for.

    The CLI, UI and secrets tests keep Dagster's run history in SQLite under tmp_path, which syncs every event to
    disk: on a virtual disk those waits cost several seconds per run. Nothing tested depends on the disk (a
    SIGKILLed process loses nothing already written). xdist workers inherit the controller's choice.
    """
    _refuse_lookups_of_real_hosts()
    # Subprocesses (CLI, UI) read their sources from the environment: the web archive, on by default, stays off
    # unless a test names a local one.
    os.environ.setdefault("IMPACT_WEB_ARCHIVE_URL", "")
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError:
        return
    if free >= 2 * 1024**3 and os.access("/dev/shm", os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"  # pytest's documented root for tmp_path folders


_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost")


def _refuse_lookups_of_real_hosts() -> None:
    """Tests never look up a real host: a name other than localhost or an IP literal fails here, as it would on a
    machine without DNS, before any query leaves the process (`.test`/`.example` fixtures included)."""
    import ipaddress
    import socket

    real = socket.getaddrinfo
    if getattr(real, "_impact_guard", False):
        return

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name.lower() not in _LOCAL_NAMES:
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                try:  # the IPv4 forms the C resolver reads without DNS (decimal, hex, octal: 2130706433, 0x7f.1)
                    socket.inet_aton(name)
                except OSError:
                    raise socket.gaierror(socket.EAI_NONAME, f"test sandbox: no lookup of {name!r}") from None
        return real(host, *args, **kwargs)

    guarded._impact_guard = True
    socket.getaddrinfo = guarded


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


# -- Runs of the sample world shared by several modules ----------------------------------------------------------
# A run of the job costs 10-20 s; tests that only read a good publication, or start from one, share these
# (once per xdist worker). Tests that run the pipeline again work on `run.copy_to(tmp_path)`.


@pytest.fixture(scope="session")
def sample_registry() -> Iterator[LocalServer]:
    """The sample world's registry over HTTP at `/startups.json` (tests may add routes of their own)."""
    from impact_pipeline.settings import SAMPLE_DIR

    body = (SAMPLE_DIR / "startups.json").read_bytes()
    with LocalServer({"/startups.json": Route(body=body, headers={"Content-Type": "application/json"})}) as server:
        yield server


def _publish(root, url: str, first: int, last: int):
    from impact_pipeline_tests.support.pipeline import PipelinePaths, PublishedRun, failure_text, run_years

    paths = PipelinePaths(root)
    result = run_years(paths.settings(url), first, last)
    assert result.success, failure_text(result)
    return PublishedRun(paths, result)


@pytest.fixture(scope="session")
def sample_every_year(tmp_path_factory, sample_registry):
    """One good run of the sample world over every year, 2016-2026, in one year-range run."""
    return _publish(tmp_path_factory.mktemp("sample-2016-2026"), sample_registry.url("/startups.json"), 2016, 2026)


@pytest.fixture(scope="session")
def sample_with_sources(tmp_path_factory, sample_registry):
    """One good run of the sample world with its offline usage (b) and quality (c) sources, 2021-2026, as `--sample`
    runs it: the usage and the quality pipeline tests each read their criterion from it (one run instead of two)."""
    from impact_pipeline_tests.support.pipeline import (
        PipelinePaths,
        PublishedRun,
        failure_text,
        run_years,
        with_sample_sources,
    )

    paths = PipelinePaths(tmp_path_factory.mktemp("sample-sources-2021-2026"))
    settings = with_sample_sources(paths.settings(sample_registry.url("/startups.json")))
    result = run_years(settings, 2021, 2026)
    assert result.success, failure_text(result)
    return PublishedRun(paths, result)


@pytest.fixture(scope="session")
def sample_2025(tmp_path_factory, sample_registry):
    """One good run of the sample world for 2025 alone: the last good publication of the fault tests.

    It is also the good run of the secrets test (one run instead of two): the registry URL carries the CANARY token
    and the run is recorded in a SQLite instance (`.instance`, `.home`) for that test to search. The other tests only
    read or copy the published folders, where the URL is stored redacted.
    """
    import dagster as dg

    from impact_pipeline_tests.support.pipeline import CANARY, PipelinePaths, PublishedRun, failure_text, run_years

    home = tmp_path_factory.mktemp("sample-2025-dagster-home")
    paths = PipelinePaths(tmp_path_factory.mktemp("sample-2025"))
    # set_dagster_home=False: the session's other tests keep their own DAGSTER_HOME.
    with dg.instance_for_test(temp_dir=str(home), set_dagster_home=False) as instance:
        url = sample_registry.url("/startups.json") + f"?token={CANARY}"
        result = run_years(paths.settings(url), 2025, 2025, instance=instance)
        assert result.success, failure_text(result)
        yield PublishedRun(paths, result, instance=instance, home=home)


# -- Scheduling on the xdist workers (`pytest -n 2`) ---------------------------------------------------------------
# The suite's wall time is bounded by its slowest tests and by how evenly the two workers are loaded. Slow units
# start first, longest first, each unit whole on one worker; the tests sharing a session run above form one unit,
# so that run is made once. Everything else follows, one unit per module (its module fixtures are made once), in
# collection order. Seconds measured on 2 cores with `-n 2` (29 Nov. 2026); a renamed test only loses its place.
# The postgres and browser units start side by side: both spend much of their time waiting on processes of their
# own (a step process per step, a web server and a browser), so together they keep both cores busy and barely slow
# each other (80 s and 56 s measured); next to the in-process units they slowed those down by half.
SLOW_UNITS: dict[str, tuple[int, list[str]]] = {
    "postgres": (90, ["scale_out/test_postgres.py"]),
    "browser": (60, ["ui/test_browser.py"]),
    "sample world 2025": (
        55,
        [
            "guarantees/test_faults.py::test_sigkill_halfway_keeps_the_last_good_publication_and_the_next_run_succeeds",
            "guarantees/test_faults.py::test_analyst_reading_the_published_file_neither_blocks_nor_sees_a_torn_file",
            "guarantees/test_hostile_input.py",
            "guarantees/test_secrets.py",
        ],
    ),
    "sample world 2016-2026": (
        50,
        [
            "defs/gates/test_gates_pipeline.py",
            "defs/registry/test_registry_pipeline.py",
            "defs/reporting/test_sample_outputs.py",
        ],
    ),
    "publication": (50, ["guarantees/test_publication.py"]),
    "killed CLI run": (45, ["guarantees/test_dead_runs.py"]),
    "two CLI runs": (
        35,
        ["guarantees/test_faults.py::test_two_runs_started_together_are_serialised_without_corruption"],
    ),
    "real snapshot": (18, ["defs/impact/test_real_snapshot.py"]),
    "conditional fetch": (17, ["defs/registry/test_conditional_fetch.py"]),
    "sample world with sources": (10, ["defs/usage/test_usage_pipeline.py", "defs/quality/test_quality_pipeline.py"]),
    "mirrored sources": (35, ["guarantees/test_mirrored_sources.py"]),
    "definitions": (4, ["test_definitions.py"]),
}
_UNIT_OF = {pattern: unit for unit, (_, patterns) in SLOW_UNITS.items() for pattern in patterns}


def scheduling_unit(nodeid: str) -> str:
    """The unit a test is scheduled with: its slow unit, else its module."""
    module, _, name = nodeid.partition("::")
    module = module.removeprefix("impact_pipeline_tests/")
    test = f"{module}::{name.split('[')[0]}"
    return _UNIT_OF.get(test) or _UNIT_OF.get(module) or module


def pytest_collection_modifyitems(config, items):
    """Slow units first, longest first; a unit's tests stay together and in their order."""
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(scheduling_unit(item.nodeid), index)

    def key(indexed):
        index, item = indexed
        unit = scheduling_unit(item.nodeid)
        return -SLOW_UNITS.get(unit, (0, []))[0], first_seen[unit], index

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With the default `--dist load`: hand out whole units, in the order above (xdist's scope scheduling)."""
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist choice wins
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    config.option.loadscopereorder = False  # keep our order, not "units with most tests first"
    return UnitScheduling(config, log)
