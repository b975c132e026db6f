"""Registry ingest: the raw document, then the startups, phases, events and incubators tables."""

from datetime import UTC

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.metadata import table_metadata as _meta
from impact_pipeline.defs.partitions import DUCKDB_POOL, OWNERS
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse

GROUP = "registry"
# The latest observation first: a history document stored today describes its own date, not today.
LATEST_OBSERVED = "coalesce(observed_at, fetched_at) DESC, fetched_at DESC"


# Every column of registry_raw but the document: what a fetch's history row is made of.
_FETCH_COLUMNS = ", ".join(c for c in contract.REGISTRY_RAW.column_names if c != "document")


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
    from datetime import datetime

    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def _record_not_modified(con, result, fetched_at: str, sha256: str) -> tuple[int, int] | None:
    """Record a 304 answer as the latest fetch of the stored document with `sha256`; (n_bytes, n_startups).

    None, with nothing written, when that document is missing or no longer matches its checksum.
    """
    con.execute("BEGIN")
    try:
        rows = con.execute(
            "SELECT rowid, n_bytes, n_startups, sha256(document) = sha256 FROM registry_raw "
            "WHERE sha256 = ? AND document IS NOT NULL AND n_startups IS NOT NULL ORDER BY fetched_at DESC LIMIT 1",
            [sha256],
        ).fetchall()
        if not rows or not rows[0][3]:
            con.execute("ROLLBACK")
            return None
        kept, n_bytes, n_startups, _ = rows[0]
        # The document stays on the latest fetch of its checksum without being copied (~120 MB at 100x): the
        # row holding it takes this fetch's details, and the earlier fetch's details are re-inserted without it.
        con.execute(
            f"INSERT INTO registry_raw ({_FETCH_COLUMNS}) SELECT {_FETCH_COLUMNS} FROM registry_raw WHERE rowid = ?",
            [kept],
        )
        con.execute(
            "UPDATE registry_raw SET fetched_at = ?::TIMESTAMP, observed_at = ?::TIMESTAMP, source_url = ?, final_url = ?, "
            "etag = ?, last_modified = ?, not_modified = true WHERE rowid = ?",
            [fetched_at, fetched_at, result.url, result.final_url, result.etag, result.last_modified, kept],
        )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return n_bytes, n_startups


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    metadata=_meta(contract.REGISTRY_RAW),
)
def registry_raw(
    context: dg.AssetExecutionContext, registry: RegistrySource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The beta.gouv.fr startups registry document as fetched, with its fetch time and checksum."""
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
            context.log.warning(
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
        dated = _store_history(con, registry, context)
        history = con.execute(
            "SELECT fetched_at, observed_at, source_url, sha256, n_bytes, n_startups, not_modified, "
            "document IS NOT NULL AS document_kept FROM registry_raw ORDER BY fetched_at DESC"
        ).fetchall()
    answer = "304 Not Modified, stored document reused" if not_modified else f"{n_bytes} bytes"
    context.log.info(f"registry: {n_startups} startups from {url} ({answer})")
    return dg.MaterializeResult(
        metadata={
            "source_url": dg.MetadataValue.url(url) if url.startswith("http") else url,
            "sha256": sha256,
            "bytes": n_bytes,
            "bytes_received": received,
            "not_modified": not_modified,
            "n_startups": n_startups,
            "fetched_at": f"{fetched_at}Z",
            "history_documents": dg.MetadataValue.json(dated),
            "dagster/row_count": len(history),
            "preview": dg.MetadataValue.md(
                "| fetched_at | observed_at | source_url | sha256 | n_bytes | n_startups | not_modified | document_kept |\n"
                "|---|---|---|---|---|---|---|---|\n"
                + "\n".join("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in history[:10])
            ),
        },
        # The history's documents count too: a new dated document changes what (c) reads for its years.
        data_version=dg.DataVersion(sha256 if not dated else _combined_version(sha256, dated)),
    )


def _combined_version(sha256: str, dated: list[dict]) -> str:
    import hashlib

    return hashlib.sha256(" ".join([sha256, *(d["sha256"] for d in dated)]).encode()).hexdigest()


def _store_document(con, values: list, content: bytes, observed_at: str, validators: list) -> int:
    """Store one registry document (`values`: fetched_at, source_url, final_url, sha256, n_bytes) observed at
    `observed_at`, counting its records; the number of records. Nothing is kept when it is not a registry document.

    DuckDB checks the text (UTF-8, JSON, shape) where it is stored: the document never becomes Python objects.
    Shape errors fail here, naming the source, and roll the row back.
    """
    from impact_pipeline.defs.registry.parse import count_records, insert_document

    this_fetch = "FROM registry_raw WHERE n_startups IS NULL AND fetched_at = ?::TIMESTAMP AND sha256 = ?"
    key, source = [values[0], values[3]], values[1]
    con.execute("BEGIN")
    try:
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
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return n_startups


def _store_history(con, registry: RegistrySource, context) -> list[dict]:
    """Store each dated document of the registry history (IMPACT_REGISTRY_HISTORY) once per checksum and date.

    A file whose size and modification time are those recorded for its date is not read again; a read file whose
    checksum is already stored for its date is not stored again. Each becomes an observation dated by its folder.
    """
    import hashlib
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
            "SELECT count(*) FROM registry_raw WHERE sha256 = ? AND observed_at = ?::TIMESTAMP AND n_startups IS NOT NULL",
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
        context.log.info(
            f"registry history: {len(dated)} dated documents ({sum(d['stored'].startswith('new') for d in dated)} new)"
        )
    return dated


REGISTRY_TABLES = (
    contract.STARTUPS,
    contract.STARTUP_PHASES,
    contract.STARTUP_EVENTS,
    contract.INCUBATORS,
    contract.REGISTRY_FINDINGS,
)

_DESCRIPTIONS = {
    "startups": "One row per beta.gouv.fr service with its links, incubator and current phase.",
    "startup_phases": "Every phase entry of every service, published name beside its 2026-vocabulary name.",
    "startup_events": "Every event of every service, including the official national_impact designations.",
    "incubators": "The incubators that host the services.",
    "registry_findings": "Data-quality findings of the registry (unknown phases, bad dates), recorded rather than fatal.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            t.name,
            group_name=GROUP,
            kinds={"python", "duckdb"},
            owners=OWNERS,
            deps=[registry_raw],
            description=_DESCRIPTIONS[t.name],
            metadata=_meta(t),
        )
        for t in REGISTRY_TABLES
    ],
    pool=DUCKDB_POOL,
)
def registry_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Parse the latest raw registry document into the registry tables, replacing them whole."""
    from impact_pipeline.defs.registry.parse import parse_memory, parse_registry

    latest = f"SELECT document FROM registry_raw WHERE document IS NOT NULL ORDER BY {LATEST_OBSERVED} LIMIT 1"
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_url, fetched_at, n_bytes FROM registry_raw WHERE document IS NOT NULL "
            f"ORDER BY {LATEST_OBSERVED} LIMIT 1"
        ).fetchall()
        if not rows:
            raise RuntimeError("no registry document in the working data: materialize registry_raw first")
        source_url, fetched_at, n_bytes = rows[0]
        # Parsed inside DuckDB into temp tables, then swapped in whole.
        with parse_memory(con, n_bytes):
            tables = parse_registry(con, latest, [], source=source_url, as_of=fetched_at.date())
        con.execute("BEGIN")
        for table in REGISTRY_TABLES:
            columns = ", ".join(f'"{c}"' for c in table.column_names)
            con.execute(f'DELETE FROM "{table.name}"')
            con.execute(
                f'INSERT INTO "{table.name}" ({columns}) '
                f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order"
            )
        con.execute("COMMIT")
        previews = {}
        for table in REGISTRY_TABLES:
            shown = [c for c in table.column_names if c not in ("pitch", "sponsors", "thematiques", "usertypes")]
            columns = ", ".join(f'"{c}"' for c in shown)
            previews[table.name] = con.execute(
                f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order LIMIT 10"
            ).df()
    for table in REGISTRY_TABLES:
        preview = previews[table.name]
        yield dg.MaterializeResult(
            asset_key=table.name,
            metadata={
                "dagster/row_count": tables.row_counts[table.name],
                "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_empty_"),
            },
        )
    n_findings = tables.row_counts["registry_findings"]
    if n_findings:
        context.log.warning(f"registry: {n_findings} data-quality findings (see registry_findings)")


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[registry_raw],
    metadata=_meta(contract.REGISTRY_DECLARATIONS),
)
def registry_declarations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """What each stored registry document, live or dated, declared per service: the registry facts of (c) by date."""
    from impact_pipeline.defs.registry.parse import parse_memory, parse_registry

    table = contract.REGISTRY_DECLARATIONS
    columns = [c for c in table.column_names if c != "sha256"]
    with warehouse.connect() as con:
        # A document is parsed once: its checksum keys its rows, which never change.
        todo = con.execute(
            f"""SELECT rowid, sha256, source_url, coalesce(observed_at, fetched_at), n_bytes FROM registry_raw
                WHERE document IS NOT NULL AND n_startups IS NOT NULL
                  AND sha256 NOT IN (SELECT sha256 FROM "{table.name}")
                QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY fetched_at DESC) = 1
                ORDER BY coalesce(observed_at, fetched_at)"""
        ).fetchall()
        parsed, findings = [], 0
        for rowid, sha256, source, observed_at, n_bytes in todo:
            # The same parse as the live registry's: a document it refuses fails the step, naming its source.
            with parse_memory(con, n_bytes):
                tables = parse_registry(
                    con,
                    "SELECT document FROM registry_raw WHERE rowid = ?",
                    [rowid],
                    source=source,
                    as_of=observed_at.date(),
                )
            findings += tables.row_counts["registry_findings"]
            selected = ", ".join(f'"{c}"' for c in columns)
            con.execute("BEGIN")
            con.execute(f'DELETE FROM "{table.name}" WHERE sha256 = ?', [sha256])
            con.execute(
                f'INSERT INTO "{table.name}" (sha256, {selected}) '
                f"SELECT DISTINCT ON (startup_id) ?, {selected} FROM {tables.relations['startups']} "
                "ORDER BY startup_id, _order DESC",
                [sha256],
            )
            con.execute("COMMIT")
            parsed.append(
                {
                    "sha256": sha256,
                    "observed_at": observed_at.date().isoformat(),
                    "source": source,
                    "n_startups": tables.row_counts["startups"],
                    "n_findings": tables.row_counts["registry_findings"],
                }
            )
        # Documents no longer in registry_raw take their declarations with them.
        con.execute(f'DELETE FROM "{table.name}" WHERE sha256 NOT IN (SELECT sha256 FROM registry_raw)')
        n_rows, n_documents = con.execute(f'SELECT count(*), count(DISTINCT sha256) FROM "{table.name}"').fetchall()[0]
        observations = con.execute(
            f"""SELECT CAST(CAST(coalesce(r.observed_at, r.fetched_at) AS DATE) AS VARCHAR) AS observed, count(d.startup_id)
                FROM (SELECT DISTINCT sha256, coalesce(observed_at, fetched_at) AS observed_at, NULL AS fetched_at
                      FROM registry_raw WHERE n_startups IS NOT NULL) r
                LEFT JOIN "{table.name}" d USING (sha256) GROUP BY ALL ORDER BY 1 DESC LIMIT 20"""
        ).fetchall()
    if findings:
        context.log.warning(f"registry declarations: {findings} data-quality findings in the newly parsed documents")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(n_rows),
            "n_documents": int(n_documents),
            "parsed": dg.MetadataValue.json(parsed),
            "preview": dg.MetadataValue.md(
                "| observed | services declared |\n|---|---|\n" + "\n".join(f"| {d} | {n} |" for d, n in observations)
            ),
        }
    )
