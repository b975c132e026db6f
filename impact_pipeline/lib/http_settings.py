"""The shared HTTP layer's limits and the fetch limits as one nested resource config, read from the environment once.

Every source resource (registry, usage, quality, criteria) carries the same `HttpSettings`, shown in the
launchpad, and builds its `HttpPolicy` and `FetchLimits` from it: nothing reads these variables at run time.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import ConfigDict, Field

from impact_pipeline.lib.fetching import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HOST_WAIT,
    DEFAULT_PER_HOST,
    FetchLimits,
    process_limits,
)
from impact_pipeline.lib.http import HttpPolicy
from impact_pipeline.lib.resources import StrictResource
from impact_pipeline.lib.urls import private_network_allowed
from impact_pipeline.settings import env_int


class HttpSettings(dg.Config):
    """Timeouts, size cap, retries and requests in flight of every fetch (README "Configuration")."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, as in the resources it is nested in

    timeout: float = Field(
        default=HttpPolicy.total_timeout,
        gt=0,
        description="Total seconds of one fetch: redirects, retries and body (IMPACT_HTTP_TIMEOUT).",
    )
    max_bytes: int = Field(default=HttpPolicy.max_bytes, gt=0, description="Response size cap (IMPACT_HTTP_MAX_BYTES).")
    retries: int = Field(
        default=HttpPolicy.retries, ge=0, description="Retries of a failed fetch (IMPACT_HTTP_RETRIES)."
    )
    concurrency: int = Field(
        default=DEFAULT_CONCURRENCY, ge=1, description="Requests in flight in the process (IMPACT_FETCH_CONCURRENCY)."
    )
    per_host: int = Field(
        default=DEFAULT_PER_HOST, ge=1, description="Requests in flight per host name (IMPACT_FETCH_PER_HOST)."
    )
    host_wait: float = Field(
        default=DEFAULT_HOST_WAIT,
        gt=0,
        description="Seconds a run may lose to timeouts on one host, all its requests together; then the host's "
        "remaining requests are not sent (IMPACT_FETCH_HOST_WAIT).",
    )
    allow_private_network: bool = Field(
        default=False,
        description="IMPACT_ALLOW_PRIVATE_NETWORK=1: loopback/private addresses are reachable and count as public "
        "evidence URLs (tests, local mirrors).",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> HttpSettings:
        """The settings from the IMPACT_HTTP_*, IMPACT_FETCH_* and IMPACT_ALLOW_PRIVATE_NETWORK variables (unset or
        empty: the default); keyword overrides win."""
        values: dict[str, Any] = {
            "allow_private_network": private_network_allowed(),
            "concurrency": env_int("IMPACT_FETCH_CONCURRENCY", DEFAULT_CONCURRENCY),
            "per_host": env_int("IMPACT_FETCH_PER_HOST", DEFAULT_PER_HOST),
        }
        for variable, name, kind in (
            ("IMPACT_HTTP_TIMEOUT", "timeout", float),
            ("IMPACT_HTTP_MAX_BYTES", "max_bytes", int),
            ("IMPACT_HTTP_RETRIES", "retries", int),
            ("IMPACT_FETCH_HOST_WAIT", "host_wait", float),
        ):
            raw = os.environ.get(variable, "").strip()
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ValueError(f"{variable} must be a {kind.__name__}, got {raw!r}") from None
        return cls(**{**values, **overrides})

    def policy(self, **overrides: Any) -> HttpPolicy:
        """The HTTP policy of these settings; keyword overrides win (e.g. `page_read_overrides`)."""
        values = {
            "total_timeout": self.timeout,
            "max_bytes": self.max_bytes,
            "retries": self.retries,
            "allow_private_network": self.allow_private_network,
        }
        return HttpPolicy(**{**values, **overrides})

    def limits(self) -> FetchLimits:
        """The process's fetch limits of these settings, shared by every fetcher built with them."""
        return process_limits(self.concurrency, self.per_host, self.host_wait)


class FetchingResource(StrictResource):
    """A source resource whose fetches count in the process's fetch limits: each run starts its hosts' wait budgets
    afresh (`FetchLimits.begin_run`). Subclasses declare the `http` field (`http_settings_field()`)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run is not None:  # the hosts' wait budgets are per run
            self.http.limits().begin_run(context.run.run_id)


def http_settings_field() -> Any:
    """The `http` field of a source resource (the same description in the launchpad for all of them)."""
    return Field(
        default_factory=HttpSettings,
        description="HTTP layer and fetch limits (IMPACT_HTTP_*, IMPACT_FETCH_*, IMPACT_ALLOW_PRIVATE_NETWORK).",
    )
