"""The base of the project's typed resources."""

from __future__ import annotations

import dagster as dg
from pydantic import ConfigDict


class StrictResource(dg.ConfigurableResource):
    """A resource whose unknown keyword arguments are an error instead of being ignored (pydantic's default): a
    misspelt or misplaced setting, e.g. `QualitySources(allow_private_network=True)` (it belongs in `http`), fails
    where it is written. The launchpad and run config refuse unknown keys already; the config schema is unchanged."""

    model_config = ConfigDict(extra="forbid")
