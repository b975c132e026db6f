"""The adapter registry drives everything: a source type registered in `ADAPTERS` alone is validated in the sources
file, fetched, and its observations land in usage_observations; and the file's errors say where and what."""

from __future__ import annotations

from datetime import date
from typing import Literal

import dagster as dg
import duckdb
import pytest

from impact_pipeline.defs.usage.adapters import ADAPTERS, source_kinds
from impact_pipeline.defs.usage.adapters.base import Adapter, Read, ReadContext, SourceOptions, SourceSpec
from impact_pipeline.defs.usage.assets import usage_sources
from impact_pipeline.defs.usage.observations import Origin, Parsed, parse_number
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.defs.usage.sources_config import SourcesConfigError, check_file, load_sources
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.defs.quality.conftest import make_warehouse
from impact_pipeline_tests.support.http_server import Route


class CounterOptions(SourceOptions):
    """A made-up source type: a text file of `year value` lines."""

    type: Literal["counter"] = "counter"
    url: str
    unit: str = "uses"


def counter_reads(spec: SourceSpec, context: ReadContext) -> list[Read]:
    options: CounterOptions = spec.options

    def parse(content: bytes, fetched_at: str) -> Parsed:
        parsed, origin = Parsed(), Origin(spec.startup_id, "counter", "counter file", fetched_at, options.evidence_url)
        for line in content.decode().splitlines():
            year, value = line.split(" ", 1)
            parsed.observations.append(
                origin.observation(
                    indicator="uses",
                    value=parse_number(value)[0],
                    unit=options.unit,
                    period_start=date(int(year), 1, 1),
                    period_end=date(int(year), 12, 31),
                )
            )
        return parsed

    return [Read(FetchRequest(options.url, "counter", key=spec.startup_id), False, "counter file", parse)]


@pytest.fixture
def counter(monkeypatch):
    monkeypatch.setitem(ADAPTERS, "counter", Adapter(source="counter", options=CounterOptions, reads=counter_reads))


def test_a_type_registered_in_adapters_is_validated_fetched_and_published(tmp_path, local_server, counter):
    local_server.add("/counts.txt", Route(body="2024 1 234\n2025 5678\n"))
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(
        "services:\n"
        "  svc:\n"
        "    - type: counter\n"
        f"      url: {local_server.url('/counts.txt')}\n"
        "      evidence_url: https://svc.example.org/stats\n",
        encoding="utf-8",
    )
    assert check_file(sources) == []
    assert "counter" in source_kinds()

    warehouse = make_warehouse(tmp_path, [{"startup_id": "svc"}])
    usage = UsageSources(sources_path=str(sources), http=HttpSettings(allow_private_network=True))
    result = dg.materialize([usage_sources], resources={"usage": usage, "warehouse": warehouse})
    assert result.success and len(local_server.requests_to("/counts.txt")) == 1
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT startup_id, source, year(period_end), value, evidence_url FROM usage_observations ORDER BY 3"
        ).fetchall()
        status = con.execute("SELECT source, status, n_observations FROM usage_source_status").fetchall()
    finally:
        con.close()
    assert rows == [
        ("svc", "counter", 2024, 1234.0, "https://svc.example.org/stats"),
        ("svc", "counter", 2025, 5678.0, "https://svc.example.org/stats"),
    ]
    assert status == [("counter", "ok", 2)]

    # Its entry is checked by its own model, and the list of types says it exists.
    sources.write_text(
        "services:\n  svc:\n    - type: counter\n      unit: uses\n    - type: gopher\n", encoding="utf-8"
    )
    assert check_file(sources) == [
        "line 3: services.svc[0]: a counter source needs url",
        "line 5: services.svc[1]: `type` must be one of impact_csv, matomo, metabase, json, counter",
    ]


def test_without_its_registration_the_type_is_refused(tmp_path):
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text("services:\n  svc:\n    - type: counter\n      url: https://x.example.org\n", encoding="utf-8")
    with pytest.raises(SourcesConfigError, match=r"line 3: services.svc\[0\]: `type` must be one of impact_csv, "):
        load_sources(sources)


def test_an_error_names_the_file_the_line_the_key_path_and_what_was_expected(tmp_path):
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(
        "first_year: soon\n"
        "services:\n"
        "  svc:\n"
        "    - type: json\n"
        "      url: stats.json\n"
        "      value_path: total\n"
        "      unit: uses\n"
        "      year: 2024\n"
        "      vlaue_path: typo\n"
        "    - type: matomo\n"
        "      base_url: https://stats.example.org\n"
        "      site_id: 3\n"
        "      period: fortnight\n"
        "discovery:\n"
        "  fetch_registry_pages: maybe\n",
        encoding="utf-8",
    )
    assert check_file(sources) == [
        "line 1: first_year: Input should be a valid integer, unable to parse string as an integer",
        "line 4: services.svc[0]: vlaue_path: Extra inputs are not permitted",
        "line 10: services.svc[1]: period: Input should be 'year', 'quarter', 'month', 'week' or 'day'",
        "line 15: discovery.fetch_registry_pages: Input should be a valid boolean, unable to interpret input",
    ]
    with pytest.raises(SourcesConfigError) as refused:
        load_sources(sources)
    assert str(refused.value) == f"{sources}: line 1: first_year: Input should be a valid integer, " + (
        "unable to parse string as an integer"
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "impact_csv", "url": ""}, "a impact_csv source needs url"),
        ({"type": "impact_csv", "url": "a.csv", "indicators": {"Dossiers": "piles"}}, "indicators map to unknown"),
        ({"type": "matomo", "base_url": "https://m.example.org", "site_id": "12a"}, "site_id must be a number"),
        ({"type": "metabase", "question_url": "q", "value_column": "v", "year": 2024, "unit": "%"}, "unit must be"),
        ({"type": "json", "url": "s.json", "value_path": "total", "unit": "count"}, "unit must be one of users,"),
        ({"type": "json", "url": "s.json", "value_path": "total", "unit": "uses"}, "needs `{year}` in value_path or"),
    ],
)
def test_each_adapter_checks_its_own_entry(tmp_path, entry, expected):
    import yaml

    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(yaml.safe_dump({"services": {"svc": [entry]}}), encoding="utf-8")
    (error,) = check_file(sources)
    assert error.startswith("line 3: services.svc[0]: ") and expected in error


def test_local_paths_are_resolved_against_the_file_and_blank_keys_are_absent(tmp_path):
    (tmp_path / "conf").mkdir()
    sources = tmp_path / "conf" / "usage_sources.yaml"
    sources.write_text(
        "services:\n  svc:\n    - type: json\n      url: copies/stats.json\n      value_path: total.{year}\n"
        "      unit: uses\n      name: ''\n      year:\n",
        encoding="utf-8",
    )
    (spec,) = load_sources(sources).all_sources
    assert spec.options.url == str(tmp_path / "conf" / "copies" / "stats.json")
    assert (spec.options.name, spec.options.year, spec.options.indicator) == (None, None, None)
