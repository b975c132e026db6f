"""The data-quality gates' engine (Great Expectations) as a typed resource.

GX is slow to import (figures in bench/README.md), so a run with gates imports it in a background thread, started
by a step that knows a gate will need it (`preload_for_gates`): `registry_raw` when it stores a new document, and
`activity_and_page_checks` when its gates have no clean result yet. A nightly run of unchanged sources reuses the
gates' results and never imports GX. A gate still imports GX itself when nothing started it; loading the code
location never does.
"""

from __future__ import annotations

import sys
import threading

import dagster as dg
from pydantic import Field

from impact_pipeline.lib.resources import StrictResource

_preload_lock = threading.Lock()
_preload_started = False
# Set when a run's `gates` resource is set up with preload on: steps may then start the import.
_preload_wanted = threading.Event()


def preload_for_gates() -> bool:
    """Start importing GX in the background if this process runs gates with preload on (see the module docstring).

    Called by steps that know a gate will need GX; without gates (a run or test without the `gates` resource, or
    `GateEngine(preload=False)`) nothing happens.
    """
    if not _preload_wanted.is_set():
        return False
    return preload_great_expectations()


def preload_great_expectations() -> bool:
    """Start importing GX in a daemon thread, once per process; False when it is already loaded or loading."""
    global _preload_started
    with _preload_lock:
        if _preload_started or "great_expectations" in sys.modules:
            return False
        _preload_started = True
    # What GX shares with the code that runs meanwhile is imported first, in the caller's thread: Dagster's
    # storage uses SQLAlchemy, whose ORM registers global inspection hooks while it is imported (seen half
    # imported from another thread, they break Dagster's queries); the steps use pandas and requests.
    import pandas  # noqa: F401
    import requests  # noqa: F401
    import sqlalchemy.orm  # noqa: F401

    threading.Thread(target=_import_great_expectations, name="preload-great-expectations", daemon=True).start()
    return True


def _import_great_expectations() -> None:
    from impact_pipeline.defs.gates.validate import _quiet_gx

    try:
        _quiet_gx()
        import great_expectations  # noqa: F401
        import great_expectations.expectations  # noqa: F401
    except Exception:  # noqa: BLE001 - the gate imports it again and reports the error where it belongs
        pass


class GateEngine(StrictResource):
    """Runs the expectation suites with Great Expectations, a bounded number of rows at a time."""

    chunk_rows: int = Field(
        default=100_000,
        gt=0,
        description="Rows validated at a time (IMPACT_GATE_CHUNK_ROWS): GX's pandas engine needs several times a "
        "frame's size, so large tables are validated in chunks (same verdicts, bounded memory).",
    )
    reuse_unchanged: bool = Field(
        default=True,
        description="Reuse a gate's earlier clean result when the validated rows are unchanged (IMPACT_GATE_REUSE; "
        "0 always runs GX): their fingerprint, a digest computed in DuckDB, is compared with the earlier one's.",
    )
    preload: bool = Field(
        default=True,
        description="Let steps that know a gate will need Great Expectations start importing it in a background "
        "thread (a changed registry, the URL checks): the import overlaps their work instead of delaying the gate.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # In-process runs initialise resources once, as the run starts. The import itself waits for a step that
        # knows a gate will need it: started here, it slowed the registry steps of a nightly run that needs no GX
        # for them.
        if self.preload:
            _preload_wanted.set()
