"""Registry ingest: the raw document, then the startups, phases, events and incubators tables."""


import json

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.metadata import table_metadata as _meta
from impact_pipeline.defs.partitions import DUCKDB_POOL, OWNERS
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse, insert_frame

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
    from impact_pipeline.defs.registry.parse import RegistryFormatError

    result, document = registry.fetch()
    # Shape errors fail here, naming the source, before anything is written.
    if not isinstance(document, dict):
        raise RegistryFormatError(result.url, f"the document is not a JSON object (got {type(document).__name__})")
    if not isinstance(document.get("data"), list):
        got = type(document.get("data")).__name__ if "data" in document else "nothing"
        raise RegistryFormatError(result.url, f"`data` is not a list (got {got})")
    n_startups = len(document["data"])
    # The decoded document is several times the size of its text: drop it before the text is copied into
    # DuckDB, so a large registry does not hold both at once (registry_tables parses the stored text).
    del document
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO registry_raw VALUES (?::TIMESTAMP, ?, ?, ?, ?, ?, ?)",
            [result.fetched_at.rstrip("Z"), result.url, result.final_url, result.sha256, len(result.content), n_startups,
             result.content.decode("utf-8", errors="replace")],
        )
        # Keep every fetch's metadata but the document only for the latest of each checksum.
        con.execute(
            """UPDATE registry_raw SET document = NULL
               WHERE document IS NOT NULL AND fetched_at < (SELECT max(fetched_at) FROM registry_raw r2
                                                           WHERE r2.sha256 = registry_raw.sha256)"""
        )
        history = con.execute(
            "SELECT fetched_at, source_url, sha256, n_bytes, n_startups, document IS NOT NULL AS document_kept "
            "FROM registry_raw ORDER BY fetched_at DESC"
        ).fetchall()
    context.log.info(f"registry: {n_startups} startups from {result.url} ({len(result.content)} bytes)")
    return dg.MaterializeResult(
        metadata={
            "source_url": dg.MetadataValue.url(result.url) if result.url.startswith("http") else result.url,
            "sha256": result.sha256,
            "bytes": len(result.content),
            "n_startups": n_startups,
            "fetched_at": result.fetched_at,
            "dagster/row_count": len(history),
            "preview": dg.MetadataValue.md(
                "| fetched_at | source_url | sha256 | n_bytes | n_startups | document_kept |\n|---|---|---|---|---|---|\n"
                + "\n".join("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in history[:10])
            ),
        },
        data_version=dg.DataVersion(result.sha256),
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
    from impact_pipeline.defs.registry.parse import parse_registry

    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_url, fetched_at, document FROM registry_raw WHERE document IS NOT NULL "
            "ORDER BY fetched_at DESC LIMIT 1"
        ).fetchall()
        if not rows:
            raise RuntimeError("no registry document in the working data: materialize registry_raw first")
        source_url, fetched_at, document = rows[0]
        del rows
        decoded = json.loads(document)
        del document  # only the decoded form from here on (large registries: hundreds of MB)
        tables = parse_registry(decoded, source=source_url, as_of=fetched_at.date())
        del decoded
        con.execute("BEGIN")
        for table in REGISTRY_TABLES:
            frame = getattr(tables, table.name)
            con.execute(f'DELETE FROM "{table.name}"')
            insert_frame(con, table, frame)
        con.execute("COMMIT")
    for table in REGISTRY_TABLES:
        frame = getattr(tables, table.name)
        preview = frame.head(10).drop(columns=[c for c in ("pitch", "sponsors", "thematiques", "usertypes") if c in frame])
        yield dg.MaterializeResult(
            asset_key=table.name,
            metadata={
                "dagster/row_count": len(frame),
                "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_empty_"),
            },
        )
    if len(tables.registry_findings):
        context.log.warning(f"registry: {len(tables.registry_findings)} data-quality findings (see registry_findings)")
