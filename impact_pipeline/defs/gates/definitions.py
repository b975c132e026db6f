"""The gates' engine (Great Expectations), shared by every domain's gates."""

import dagster as dg

from impact_pipeline.defs.gates.resources import GateEngine
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        resources={"gates": GateEngine(chunk_rows=settings.gate_chunk_rows, reuse_unchanged=settings.gate_reuse)}
    )
