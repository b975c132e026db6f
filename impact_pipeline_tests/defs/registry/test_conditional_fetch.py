"""The registry fetch is conditional: an unchanged registry answers 304 and the stored document is reused."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from impact_pipeline.defs.registry.assets import registry_raw, registry_tables
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import SAMPLE_DIR
from impact_pipeline_tests.support.http_server import RecordedRequest, Route

SAMPLE = (SAMPLE_DIR / "startups.json").read_bytes()
MONDAY = "Mon, 05 Jan 2026 10:00:00 GMT"
TABLES = ("startups", "startup_phases", "startup_events", "incubators", "registry_findings")
HISTORY = (
    "SELECT not_modified, document IS NOT NULL, etag, last_modified, n_startups, sha256 "
    "FROM registry_raw ORDER BY fetched_at"
)


class Registry:
    """A registry server honouring If-None-Match (first, as RFC 9110 says) and If-Modified-Since."""

    def __init__(self, body: bytes = SAMPLE, etag: str | None = '"v1"', last_modified: str | None = MONDAY):
        self.body, self.etag, self.last_modified = body, etag, last_modified
        self.answers: list[int] = []

    def route(self) -> Route:
        return Route(handler=self.answer)

    def answer(self, request: RecordedRequest) -> Route:
        headers = {"Content-Type": "application/json"}
        if self.etag:
            headers["ETag"] = self.etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        if_none_match, if_modified_since = (
            request.headers.get("If-None-Match"),
            request.headers.get("If-Modified-Since"),
        )
        if if_none_match is not None:
            fresh = self.etag is not None and if_none_match == self.etag
        else:
            fresh = self.last_modified is not None and if_modified_since == self.last_modified
        self.answers.append(304 if fresh else 200)
        return Route(status=304, headers=headers) if fresh else Route(body=self.body, headers=headers)


@pytest.fixture
def registry(local_server):
    served = Registry()
    local_server.add("/startups.json", served.route())
    return served


def warehouse(root: Path) -> Warehouse:
    return Warehouse(
        duckdb_path=str(root / "published" / "impact.duckdb"),
        export_dir=str(root / "exports"),
        work_dir=str(root / "work"),
    )


@functools.cache
def _instance() -> dg.DagsterInstance:
    """One in-memory instance for the module rather than two new ones per materialization (~0.15 s each).

    Nothing here reads the instance's history: every assertion is on the HTTP exchanges and the DuckDB file.
    """
    return dg.DagsterInstance.ephemeral()


def ingest(root: Path, url: str, tables: bool = True) -> dict:
    """Materialize registry_raw then the registry tables; registry_raw's metadata.

    `tables=False` materializes registry_raw alone, for tests that only look at the fetches: registry_tables reads
    registry_raw and never writes it, so the conditional fetch behaves the same without it.
    """
    result = dg.materialize(
        [registry_raw, registry_tables] if tables else [registry_raw],
        resources={
            "registry": RegistrySource(url=url, http=HttpSettings(allow_private_network=True)),
            "warehouse": warehouse(root),
        },
        instance=_instance(),
    )
    assert result.success
    [event] = result.asset_materializations_for_node("registry_raw")
    return {key: value.value for key, value in event.metadata.items()}


def query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "work" / "impact.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def tables(root: Path) -> dict[str, list[tuple]]:
    return {t: query(root, f'SELECT * FROM "{t}" ORDER BY ALL') for t in TABLES}


def validators(request: RecordedRequest) -> tuple[str | None, str | None]:
    return request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")


def test_an_unchanged_registry_is_asked_conditionally_and_its_stored_document_reused(tmp_path, local_server, registry):
    url = local_server.url("/startups.json")
    first = ingest(tmp_path, url)
    before = tables(tmp_path)
    assert first["not_modified"] is False and first["bytes_received"] == len(SAMPLE)
    assert len(before["startups"]) == 14

    second = ingest(tmp_path, url)

    requests = local_server.requests_to("/startups.json")
    assert [validators(r) for r in requests] == [(None, None), ('"v1"', MONDAY)]
    assert registry.answers == [200, 304]
    assert second["not_modified"] is True and second["bytes_received"] == 0
    assert second["sha256"] == first["sha256"] and second["n_startups"] == first["n_startups"] == 14
    assert tables(tmp_path) == before
    # Both fetches in the history, in order; the document kept once, on the latest fetch.
    history = query(tmp_path, HISTORY)
    assert [row[:2] for row in history] == [(False, False), (True, True)]
    assert {row[2:] for row in history} == {('"v1"', MONDAY, 14, first["sha256"])}
    assert query(tmp_path, "SELECT count(DISTINCT fetched_at), sum(n_bytes) FROM registry_raw") == [
        (2, 2 * len(SAMPLE))
    ]
    # The registry tables are as of the latest fetch, the 304 one.
    assert query(
        tmp_path,
        "SELECT max(fetched_at) = (SELECT fetched_at FROM registry_raw WHERE document IS NOT NULL) FROM registry_raw",
    ) == [(True,)]

    # The registry_raw gate of the job (the latest fetch keeps its document, required columns set) holds.
    from impact_pipeline.defs.gates.suites import ALL_SUITES
    from impact_pipeline.defs.gates.validate import result_path, run_suite, write_result

    [gate] = [s for s in ALL_SUITES if s.table == "registry_raw"]
    kept = tmp_path / "validations"

    def validate(run_id: str):
        con = duckdb.connect(str(tmp_path / "work" / "impact.duckdb"), read_only=True)
        try:
            outcome = run_suite(con, gate, reuse=result_path(gate, kept))
        finally:
            con.close()
        write_result(outcome, kept, run_id)
        return outcome

    first_gate = validate("run-2")
    assert first_gate.failures == [] and first_gate.reused_from is None
    assert first_gate.n_rows == 1  # the latest fetch of the one checksum: the rows a run reads

    ingest(tmp_path, url)  # and again: the validators follow the latest fetch
    assert registry.answers == [200, 304, 304]
    assert [row[:2] for row in query(tmp_path, HISTORY)] == [(False, False), (True, False), (True, True)]
    # A 304 adds a fetch to the history, with its own time; what the gate validates is unchanged: the nightly run
    # of an unchanged registry reuses the clean result (and never imports Great Expectations for it).
    again = validate("run-3")
    assert again.failures == [] and again.reused_from is not None and again.reused_from["run_id"] == "run-2"
    # The latest fetch losing a required value is validated again and blocks.
    with duckdb.connect(str(tmp_path / "work" / "impact.duckdb")) as con:
        con.execute(
            "UPDATE registry_raw SET final_url = NULL WHERE fetched_at = (SELECT max(fetched_at) FROM registry_raw)"
        )
    broken = validate("run-4")
    assert broken.reused_from is None and [f.spec.label for f in broken.blocking_failures] == ["final_url is present"]


def test_a_changed_registry_is_taken(tmp_path, local_server, registry):
    url = local_server.url("/startups.json")
    ingest(tmp_path, url)
    doc = json.loads(SAMPLE)
    doc["data"] = doc["data"][:-1]
    registry.body, registry.etag, registry.last_modified = (
        json.dumps(doc).encode(),
        '"v2"',
        "Tue, 06 Jan 2026 10:00:00 GMT",
    )

    changed = ingest(tmp_path, url)

    assert validators(local_server.requests_to("/startups.json")[-1]) == ('"v1"', MONDAY)
    assert registry.answers == [200, 200]
    assert changed["not_modified"] is False and changed["n_startups"] == 13
    assert query(tmp_path, "SELECT count(*) FROM startups") == [(13,)]
    # Each checksum keeps its document; the next fetch asks with the new validators.
    assert [row[:3] for row in query(tmp_path, HISTORY)] == [(False, True, '"v1"'), (False, True, '"v2"')]
    ingest(tmp_path, url)
    assert validators(local_server.requests_to("/startups.json")[-1]) == ('"v2"', "Tue, 06 Jan 2026 10:00:00 GMT")
    assert registry.answers == [200, 200, 304]
    assert query(tmp_path, "SELECT count(*) FROM startups") == [(13,)]


def test_last_modified_alone_makes_the_request_conditional(tmp_path, local_server, registry):
    registry.etag = None
    url = local_server.url("/startups.json")
    ingest(tmp_path, url, tables=False)
    second = ingest(tmp_path, url, tables=False)
    assert [validators(r) for r in local_server.requests_to("/startups.json")] == [(None, None), (None, MONDAY)]
    assert second["not_modified"] is True and registry.answers == [200, 304]


def test_without_validators_every_fetch_is_a_full_download(tmp_path, local_server, registry):
    registry.etag = registry.last_modified = None
    url = local_server.url("/startups.json")
    ingest(tmp_path, url, tables=False)
    ingest(tmp_path, url, tables=False)
    assert [validators(r) for r in local_server.requests_to("/startups.json")] == [(None, None), (None, None)]
    assert [row[:2] for row in query(tmp_path, HISTORY)] == [(False, False), (False, True)]


def test_validators_of_another_url_are_not_sent(tmp_path, local_server, registry):
    ingest(tmp_path, local_server.url("/startups.json"), tables=False)
    local_server.add("/mirror.json", registry.route())
    ingest(tmp_path, local_server.url("/mirror.json"), tables=False)
    assert validators(local_server.requests_to("/mirror.json")[0]) == (None, None)


def test_a_missing_stored_document_means_an_unconditional_fetch(tmp_path, local_server, registry):
    url = local_server.url("/startups.json")
    ingest(tmp_path, url)
    before = tables(tmp_path)
    con = duckdb.connect(str(tmp_path / "work" / "impact.duckdb"))
    con.execute("UPDATE registry_raw SET document = NULL")
    con.close()

    again = ingest(tmp_path, url)

    assert validators(local_server.requests_to("/startups.json")[-1]) == (None, None)
    assert registry.answers == [200, 200] and again["not_modified"] is False
    assert tables(tmp_path) == before


def test_a_damaged_stored_document_is_fetched_again_in_full(tmp_path, local_server, registry):
    url = local_server.url("/startups.json")
    ingest(tmp_path, url)
    before = tables(tmp_path)
    con = duckdb.connect(str(tmp_path / "work" / "impact.duckdb"))
    con.execute("""UPDATE registry_raw SET document = '{"data": []}'""")  # valid JSON, not the fetched bytes
    con.close()

    again = ingest(tmp_path, url)

    # The conditional request got its 304, the stored copy failed its checksum: asked again, unconditionally.
    assert [validators(r) for r in local_server.requests_to("/startups.json")[1:]] == [('"v1"', MONDAY), (None, None)]
    assert registry.answers == [200, 304, 200] and again["not_modified"] is False
    assert tables(tmp_path) == before
    assert [row[:2] for row in query(tmp_path, HISTORY)] == [(False, False), (False, True)]


def test_a_wiped_working_area_restarts_from_the_published_file_or_from_scratch(tmp_path, local_server, registry):
    url = local_server.url("/startups.json")
    ingest(tmp_path, url)
    before = tables(tmp_path)
    published = tmp_path / "published" / "impact.duckdb"
    published.parent.mkdir(parents=True)
    shutil.copyfile(tmp_path / "work" / "impact.duckdb", published)  # what a publication leaves
    shutil.rmtree(tmp_path / "work")

    # The working file is rebuilt from the publication, document and validators together: still a 304.
    assert ingest(tmp_path, url)["not_modified"] is True
    assert tables(tmp_path) == before

    # Nothing left at all: a full download.
    shutil.rmtree(tmp_path / "work")
    published.unlink()
    assert ingest(tmp_path, url)["not_modified"] is False
    assert registry.answers == [200, 304, 200]
    assert tables(tmp_path) == before


def test_a_working_file_of_an_older_version_gains_the_columns_and_keeps_working(tmp_path, local_server, registry):
    work = tmp_path / "work"
    work.mkdir()
    con = duckdb.connect(str(work / "impact.duckdb"))
    # registry_raw as created before conditional fetches, with one earlier fetch and its document.
    con.execute("""CREATE TABLE registry_raw (fetched_at TIMESTAMP, source_url VARCHAR,
                       final_url VARCHAR, sha256 VARCHAR,
                   n_bytes BIGINT, n_startups INTEGER, document VARCHAR)""")
    con.execute("INSERT INTO registry_raw VALUES ('2026-01-01 02:00:00', 'old', 'old', 'abc', 12, 0, '{\"data\": []}')")
    con.close()
    url = local_server.url("/startups.json")

    assert ingest(tmp_path, url)["not_modified"] is False
    assert ingest(tmp_path, url)["not_modified"] is True
    assert registry.answers == [200, 304]
    assert query(
        tmp_path, "SELECT source_url, not_modified, etag, document IS NOT NULL FROM registry_raw ORDER BY fetched_at"
    ) == [("old", None, None, True), (url, False, '"v1"', False), (url, True, '"v1"', True)]
    assert len(tables(tmp_path)["startups"]) == 14


def test_a_local_registry_file_is_read_whole_every_time(tmp_path):
    path = tmp_path / "startups.json"
    path.write_bytes(SAMPLE)
    first, second = ingest(tmp_path, str(path), tables=False), ingest(tmp_path, str(path), tables=False)
    assert first["not_modified"] is second["not_modified"] is False
    assert second["bytes_received"] == len(SAMPLE) and second["n_startups"] == 14
    assert [row[:3] for row in query(tmp_path, HISTORY)] == [(False, False, None), (False, True, None)]
