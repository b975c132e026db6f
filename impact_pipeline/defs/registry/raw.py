"""The raw registry: each fetched or dated registry document stored in `registry_raw`, once per checksum.

A fetch is conditional when the document it would repeat is still stored: an unchanged registry answers 304 and is
neither downloaded, stored nor counted again. DuckDB checks each new document (UTF-8, JSON, shape) as it stores it,
so the document never becomes Python objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from impact_pipeline import contract
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse, transaction

# Every column of registry_raw but the document: what a fetch's history row is made of.
_FETCH_COLUMNS = ", ".join(c for c in contract.REGISTRY_RAW.column_names if c != "document")


@dataclass
class RawFetch:
    """What `store_registry` did: the live document's fetch, the history's dated documents, the fetches stored."""

    url: str
    fetched_at: str
    sha256: str
    n_bytes: int
    bytes_received: int
    n_startups: int
    not_modified: bool
    dated: list[dict]
    history: Any  # a DataFrame of every stored fetch, latest first

    @property
    def data_version(self) -> str:
        """The live document's checksum; with dated documents, a hash of all of them (a new one changes (c))."""
        if not self.dated:
            return self.sha256
        return hashlib.sha256(" ".join([self.sha256, *(d["sha256"] for d in self.dated)]).encode()).hexdigest()


def store_registry(registry: RegistrySource, warehouse: Warehouse, log: Any) -> RawFetch:
    """Fetch the registry (conditionally when its document is stored) and store what is new, with the history."""
    from impact_pipeline.defs.gates.resources import preload_for_gates
    from impact_pipeline.lib.http import redact_url

    # Conditional when the last fetch of this URL gave validators and its document is stored: an unchanged
    # registry then answers 304 and is not downloaded, stored or parsed for its count again.
    with warehouse.connect() as con:
        stored = _stored_validators(con, redact_url(registry.url.strip()))
        first = not stored and not con.execute("SELECT count(*) FROM registry_raw").fetchall()[0][0]
    if first:
        # Nothing stored (a first run, a wiped working area): the document will be new, and every registry gate
        # will validate it. GX's import starts now and overlaps the download.
        preload_for_gates()
    fetched_at = _utc_now()
    result = registry.fetch(etag=stored[0], last_modified=stored[1]) if stored else registry.fetch()
    kept = None
    if result.not_modified:
        with warehouse.connect() as con:
            kept = _record_not_modified(con, result, fetched_at, stored[2])
        if kept is None:
            log.warning(
                f"registry: {result.url} answered 304 Not Modified but the stored document "
                f"{stored[2][:12]}… is missing or damaged: fetching it again in full"
            )
            fetched_at = _utc_now()
            result = registry.fetch()
    url, not_modified, received = result.url, result.not_modified, len(result.content)
    if kept is not None:
        sha256, (n_bytes, n_startups) = stored[2], kept
    else:
        sha256, n_bytes = result.sha256, received
    with warehouse.connect() as con:
        if kept is None:
            # A new document: every registry gate will validate new rows. GX's import overlaps the parse below
            # (DuckDB releases the interpreter lock) and the next steps. The same document downloaded again (a server
            # without validators) gives the gates the rows they validated: they reuse their results, without GX.
            known = "SELECT count(*) FROM registry_raw WHERE sha256 = ? AND document IS NOT NULL"
            if not con.execute(known, [result.sha256]).fetchall()[0][0]:
                preload_for_gates()
            validators = [result.etag, result.last_modified]
            content, final_url = result.content, result.final_url
            del result  # the bytes go into DuckDB: a large registry is not held twice
            n_startups = _store_document(
                con, [fetched_at, url, final_url, sha256, n_bytes], content, fetched_at, validators
            )
            del content
        dated = _store_history(con, registry, log)
        history = con.execute(
            "SELECT fetched_at, observed_at, source_url, sha256, n_bytes, n_startups, not_modified, "
            "document IS NOT NULL AS document_kept FROM registry_raw ORDER BY fetched_at DESC"
        ).df()
    return RawFetch(url, fetched_at, sha256, n_bytes, received, n_startups, not_modified, dated, history)


def _stored_validators(con, source_url: str) -> tuple[str | None, str | None, str] | None:
    """(etag, last_modified, sha256) of the last fetch of `source_url` when the document it gave is still stored.

    None (ask unconditionally) when that fetch had no validators or its document is gone: a 304 would then
    leave the run without a document.
    """
    rows = con.execute(
        "SELECT etag, last_modified, sha256 FROM registry_raw WHERE source_url = ? ORDER BY fetched_at DESC LIMIT 1",
        [source_url],
    ).fetchall()
    if not rows or not (rows[0][0] or rows[0][1]):
        return None
    etag, last_modified, sha256 = rows[0]
    stored = con.execute(
        "SELECT count(*) FROM registry_raw WHERE sha256 = ? AND document IS NOT NULL AND n_startups IS NOT NULL",
        [sha256],
    ).fetchall()[0][0]
    return (etag, last_modified, sha256) if stored else None


def _utc_now() -> str:
    """Now in UTC to the microsecond: two fetches in the same second still have an order."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def _record_not_modified(con, result, fetched_at: str, sha256: str) -> tuple[int, int] | None:
    """Record a 304 answer as the latest fetch of the stored document with `sha256`; (n_bytes, n_startups).

    None, with nothing written, when that document is missing or no longer matches its checksum.
    """
    with transaction(con):
        rows = con.execute(
            "SELECT rowid, n_bytes, n_startups, sha256(document) = sha256 FROM registry_raw "
            "WHERE sha256 = ? AND document IS NOT NULL AND n_startups IS NOT NULL ORDER BY fetched_at DESC LIMIT 1",
            [sha256],
        ).fetchall()
        if not rows or not rows[0][3]:
            return None
        kept, n_bytes, n_startups, _ = rows[0]
        # The document stays on the latest fetch of its checksum without being copied (~120 MB at 100x): the
        # row holding it takes this fetch's details, and the earlier fetch's details are re-inserted without it.
        con.execute(
            f"INSERT INTO registry_raw ({_FETCH_COLUMNS}) SELECT {_FETCH_COLUMNS} FROM registry_raw WHERE rowid = ?",
            [kept],
        )
        con.execute(
            "UPDATE registry_raw SET fetched_at = ?::TIMESTAMP, observed_at = ?::TIMESTAMP, source_url = ?, "
            "final_url = ?, etag = ?, last_modified = ?, not_modified = true WHERE rowid = ?",
            [fetched_at, fetched_at, result.url, result.final_url, result.etag, result.last_modified, kept],
        )
    return n_bytes, n_startups


def _store_document(con, values: list, content: bytes, observed_at: str, validators: list) -> int:
    """Store one registry document (`values`: fetched_at, source_url, final_url, sha256, n_bytes) observed at
    `observed_at`, counting its records; the number of records. Nothing is kept when it is not a registry document.

    DuckDB checks the text (UTF-8, JSON, shape) where it is stored: the document never becomes Python objects.
    Shape errors fail here, naming the source, and roll the row back.
    """
    from impact_pipeline.defs.registry.parse import count_records, insert_document

    this_fetch = "FROM registry_raw WHERE n_startups IS NULL AND fetched_at = ?::TIMESTAMP AND sha256 = ?"
    key, source = [values[0], values[3]], values[1]
    with transaction(con):
        insert_document(con, values, content, source=source)
        n_startups = count_records(con, f"SELECT document {this_fetch}", key, source=source)
        con.execute(
            "UPDATE registry_raw SET n_startups = ?, etag = ?, last_modified = ?, not_modified = false, "
            f"observed_at = ?::TIMESTAMP WHERE rowid IN (SELECT rowid {this_fetch})",
            [n_startups, *validators, observed_at, *key],
        )
        # Keep every fetch's metadata but the document only for the latest of each checksum.
        con.execute(
            """UPDATE registry_raw SET document = NULL
               WHERE document IS NOT NULL AND fetched_at < (SELECT max(fetched_at) FROM registry_raw r2
                                                           WHERE r2.sha256 = registry_raw.sha256)"""
        )
    return n_startups


def _store_history(con, registry: RegistrySource, log: Any) -> list[dict]:
    """Store each dated document of the registry history (IMPACT_REGISTRY_HISTORY) once per checksum and date.

    A file whose size and modification time are those recorded for its date is not read again; a read file whose
    checksum is already stored for its date is not stored again. Each becomes an observation dated by its folder.
    """
    from email.utils import formatdate

    from impact_pipeline.defs.gates.resources import preload_for_gates

    dated = []
    for day, path in registry.history_documents():
        stat = path.stat()
        # A local file's Last-Modified: with its size, says whether it can have changed since it was stored.
        modified = formatdate(stat.st_mtime, usegmt=True)
        observed_at = f"{day}T00:00:00"
        source = str(path)
        known = con.execute(
            "SELECT sha256 FROM registry_raw r WHERE source_url = ? AND observed_at = ?::TIMESTAMP AND n_bytes = ? "
            "AND last_modified = ? AND EXISTS (SELECT 1 FROM registry_raw d WHERE d.sha256 = r.sha256 "
            "AND d.document IS NOT NULL AND d.n_startups IS NOT NULL) LIMIT 1",
            [source, observed_at, stat.st_size, modified],
        ).fetchall()
        if known:
            dated.append({"observed_at": day, "sha256": known[0][0], "stored": "unchanged"})
            continue
        content = path.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        stored = con.execute(
            "SELECT count(*) FROM registry_raw "
            "WHERE sha256 = ? AND observed_at = ?::TIMESTAMP AND n_startups IS NOT NULL",
            [sha256, observed_at],
        ).fetchall()[0][0]
        if stored:
            dated.append({"observed_at": day, "sha256": sha256, "stored": "same checksum"})
            continue
        preload_for_gates()  # a new document: the registry gate validates it
        n = _store_document(
            con, [_utc_now(), source, source, sha256, len(content)], content, observed_at, [None, modified]
        )
        dated.append({"observed_at": day, "sha256": sha256, "stored": f"new, {n} startups"})
    if dated:
        log.info(
            f"registry history: {len(dated)} dated documents ({sum(d['stored'].startswith('new') for d in dated)} new)"
        )
    return dated
