"""The data-quality gates' engine (Great Expectations) as a typed resource.

Importing GX takes 5-7 s. A run that has gates starts that import in a background thread as the run begins
(while the registry is fetched and parsed in DuckDB, which releases the interpreter lock), so the first gate
does not wait for it. Loading the code location still never imports GX.
"""

from __future__ import annotations

import sys
import threading

import dagster as dg
from pydantic import Field

_preload_lock = threading.Lock()
_preload_started = False


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


class GateEngine(dg.ConfigurableResource):
    """Runs the expectation suites with Great Expectations, a bounded number of rows at a time."""

    chunk_rows: int = Field(
        default=100_000, gt=0,
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
        description="Start importing Great Expectations in a background thread when a run with gates begins.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # In-process runs initialise resources once, as the run starts: the import overlaps the first steps.
        if self.preload:
            preload_great_expectations()
