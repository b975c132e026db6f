"""Registry ingest: the raw document, then the startups, phases, events and incubators tables."""


import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.metadata import table_metadata as _meta
from impact_pipeline.defs.partitions import DUCKDB_POOL, OWNERS
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse

GROUP = "registry"


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    metadata=_meta(contract.REGISTRY_RAW),
)
def registry_raw(context: dg.AssetExecutionContext, registry: RegistrySource, warehouse: Warehouse) -> dg.MaterializeResult:
    """The beta.gouv.fr startups registry document as fetched, with its fetch time and checksum."""
    from impact_pipeline.defs.registry.parse import count_records, insert_document

    result = registry.fetch()
    url, n_bytes, sha256, fetched_at = result.url, len(result.content), result.sha256, result.fetched_at
    this_fetch = "FROM registry_raw WHERE n_startups IS NULL AND fetched_at = ?::TIMESTAMP AND sha256 = ?"
    key = [fetched_at.rstrip("Z"), sha256]
    with warehouse.connect() as con:
        # DuckDB checks the text (UTF-8, JSON, shape) where it is stored: the document never becomes
        # Python objects. Shape errors fail here, naming the source, and roll the row back.
        con.execute("BEGIN")
        try:
            insert_document(con, [key[0], url, result.final_url, sha256, n_bytes], result.content, source=url)
            del result  # the bytes are in DuckDB now: a large registry is not held twice
            n_startups = count_records(con, f"SELECT document {this_fetch}", key, source=url)
            con.execute(f"UPDATE registry_raw SET n_startups = ? WHERE rowid IN (SELECT rowid {this_fetch})", [n_startups, *key])
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
        history = con.execute(
            "SELECT fetched_at, source_url, sha256, n_bytes, n_startups, document IS NOT NULL AS document_kept "
            "FROM registry_raw ORDER BY fetched_at DESC"
        ).fetchall()
    context.log.info(f"registry: {n_startups} startups from {url} ({n_bytes} bytes)")
    return dg.MaterializeResult(
        metadata={
            "source_url": dg.MetadataValue.url(url) if url.startswith("http") else url,
            "sha256": sha256,
            "bytes": n_bytes,
            "n_startups": n_startups,
            "fetched_at": fetched_at,
            "dagster/row_count": len(history),
            "preview": dg.MetadataValue.md(
                "| fetched_at | source_url | sha256 | n_bytes | n_startups | document_kept |\n|---|---|---|---|---|---|\n"
                + "\n".join("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in history[:10])
            ),
        },
        data_version=dg.DataVersion(sha256),
    )


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

    latest = "SELECT document FROM registry_raw WHERE document IS NOT NULL ORDER BY fetched_at DESC LIMIT 1"
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_url, fetched_at, n_bytes FROM registry_raw WHERE document IS NOT NULL "
            "ORDER BY fetched_at DESC LIMIT 1"
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
            con.execute(f'INSERT INTO "{table.name}" ({columns}) '
                        f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order")
        con.execute("COMMIT")
        previews = {}
        for table in REGISTRY_TABLES:
            shown = [c for c in table.column_names if c not in ("pitch", "sponsors", "thematiques", "usertypes")]
            columns = ", ".join(f'"{c}"' for c in shown)
            previews[table.name] = con.execute(
                f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order LIMIT 10").df()
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
