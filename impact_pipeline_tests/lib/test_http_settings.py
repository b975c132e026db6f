"""The HTTP settings every source resource shares: read from the environment once, with the README's defaults."""

from __future__ import annotations

import pytest

from impact_pipeline.lib.fetching import process_limits
from impact_pipeline.lib.http_settings import HttpSettings


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMPACT_HTTP_TIMEOUT", "IMPACT_HTTP_MAX_BYTES", "IMPACT_HTTP_RETRIES", "IMPACT_FETCH_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMPACT_FETCH_PER_HOST", "")  # empty counts as unset
    monkeypatch.delenv("IMPACT_ALLOW_PRIVATE_NETWORK", raising=False)

    settings = HttpSettings.from_env()

    assert (settings.timeout, settings.max_bytes, settings.retries) == (120.0, 25 * 1024 * 1024, 3)
    assert (settings.concurrency, settings.per_host, settings.allow_private_network) == (8, 2, False)


def test_from_env_builds_the_policy_and_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPACT_ALLOW_PRIVATE_NETWORK", "1")
    monkeypatch.setenv("IMPACT_HTTP_TIMEOUT", "42")
    monkeypatch.setenv("IMPACT_HTTP_MAX_BYTES", "1000")
    monkeypatch.setenv("IMPACT_HTTP_RETRIES", "0")
    monkeypatch.setenv("IMPACT_FETCH_CONCURRENCY", "5")
    monkeypatch.setenv("IMPACT_FETCH_PER_HOST", "3")

    settings = HttpSettings.from_env()
    policy = settings.policy(retries=2)

    assert policy.allow_private_network is True
    assert policy.total_timeout == 42.0 and policy.max_bytes == 1000
    assert policy.retries == 2  # explicit overrides win
    assert settings.policy().retries == 0
    limits = settings.limits()
    assert (limits.concurrency, limits.per_host) == (5, 3)
    assert limits is process_limits(5, 3)  # one instance per configuration in the process
    monkeypatch.setenv("IMPACT_ALLOW_PRIVATE_NETWORK", "true")
    assert HttpSettings.from_env().allow_private_network is False  # only "1" opts in


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMPACT_HTTP_TIMEOUT", "soon", "IMPACT_HTTP_TIMEOUT must be a float, got 'soon'"),
        ("IMPACT_HTTP_RETRIES", "1.5", "IMPACT_HTTP_RETRIES must be a int, got '1.5'"),
        ("IMPACT_FETCH_PER_HOST", "0", "IMPACT_FETCH_PER_HOST must be at least 1, got 0"),
        ("IMPACT_HTTP_MAX_BYTES", "0", "greater than 0"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        HttpSettings.from_env()
