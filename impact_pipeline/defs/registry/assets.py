"""Registry ingest: the raw document, then the startups, phases, events and incubators tables."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.metadata import preview as _preview
from impact_pipeline.defs.metadata import selected_together, table_asset
from impact_pipeline.defs.partitions import DUCKDB_POOL
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse, replace_rows, transaction

if TYPE_CHECKING:
    from impact_pipeline.defs.registry.parse import RegistryTables

GROUP = "registry"
# The latest observation first: a history document stored today describes its own date, not today.
LATEST_OBSERVED = "coalesce(observed_at, fetched_at) DESC, fetched_at DESC"


@dg.asset(
    **table_asset(contract.REGISTRY_RAW, GROUP),
    pool=DUCKDB_POOL,
)
def registry_raw(
    context: dg.AssetExecutionContext, registry: RegistrySource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The beta.gouv.fr startups registry document as fetched, with its fetch time and checksum."""
    from impact_pipeline.defs.registry.raw import store_registry

    fetch = store_registry(registry, warehouse, context.log)
    answer = "304 Not Modified, stored document reused" if fetch.not_modified else f"{fetch.n_bytes} bytes"
    context.log.info(f"registry: {fetch.n_startups} startups from {fetch.url} ({answer})")
    return dg.MaterializeResult(
        metadata={
            "source_url": dg.MetadataValue.url(fetch.url) if fetch.url.startswith("http") else fetch.url,
            "sha256": fetch.sha256,
            "bytes": fetch.n_bytes,
            "bytes_received": fetch.bytes_received,
            "not_modified": fetch.not_modified,
            "n_startups": fetch.n_startups,
            "fetched_at": f"{fetch.fetched_at}Z",
            "history_documents": dg.MetadataValue.json(fetch.dated),
            "dagster/row_count": len(fetch.history),
            "preview": _preview(fetch.history, list(fetch.history.columns)),
        },
        # The history's documents count too: a new dated document changes what (c) reads for its years.
        data_version=dg.DataVersion(fetch.data_version),
    )


REGISTRY_TABLES = (
    contract.STARTUPS,
    contract.STARTUP_PHASES,
    contract.STARTUP_EVENTS,
    contract.INCUBATORS,
    contract.REGISTRY_FINDINGS,
)
DECLARATIONS = contract.REGISTRY_DECLARATIONS

_DESCRIPTIONS = {
    "startups": "One row per beta.gouv.fr service with its links, incubator and current phase.",
    "startup_phases": "Every phase entry of every service, published name beside its 2026-vocabulary name.",
    "startup_events": "Every event of every service, including the official national_impact designations.",
    "incubators": "The incubators that host the services.",
    "registry_findings": "Data-quality findings of the registry (unknown phases, bad dates), "
    "recorded rather than fatal.",
    "registry_declarations": "What each stored registry document, live or dated, declared per service: the registry "
    "facts of (c) by date.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            t.name,
            **table_asset(t, GROUP),
            deps=[registry_raw],
            description=_DESCRIPTIONS[t.name],
        )
        for t in (*REGISTRY_TABLES, DECLARATIONS)
    ],
    can_subset=True,  # registry_declarations stays materializable alone
    pool=DUCKDB_POOL,
)
def registry_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Parse the registry documents: the latest into the registry tables, replaced whole, and every stored one into
    registry_declarations; a document is parsed once for both."""
    tables = selected_together(
        context, [t.name for t in REGISTRY_TABLES], "are written whole from one parse of the latest registry document"
    )
    declarations = dg.AssetKey(DECLARATIONS.name) in context.selected_asset_keys
    with warehouse.connect() as con:
        parsed = _write_tables(con) if tables else None
        if declarations:
            declared = _write_declarations(con, parsed)
    if parsed is not None:
        for table in REGISTRY_TABLES:
            preview = parsed.previews[table.name]
            yield dg.MaterializeResult(
                asset_key=table.name,
                metadata={
                    "dagster/row_count": parsed.tables.row_counts[table.name],
                    "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_empty_"),
                },
            )
        n_findings = parsed.tables.row_counts["registry_findings"]
        if n_findings:
            context.log.warning(f"registry: {n_findings} data-quality findings (see registry_findings)")
    if declarations:
        if declared.findings:
            context.log.warning(
                f"registry declarations: {declared.findings} data-quality findings in the newly parsed documents"
            )
        yield dg.MaterializeResult(asset_key=DECLARATIONS.name, metadata=declared.metadata)


@dataclass
class _Parsed:
    """The latest registry document as `registry_tables` parsed it: its checksum, the parse's temp tables (still in
    the connection), previews."""

    sha256: str
    tables: "RegistryTables"
    previews: dict[str, Any]


def _write_tables(con) -> _Parsed:
    """Replace the registry tables by the parse of the latest stored document."""
    from impact_pipeline.defs.registry.parse import parse_memory, parse_registry

    rows = con.execute(
        "SELECT rowid, sha256, source_url, fetched_at, n_bytes FROM registry_raw WHERE document IS NOT NULL "
        f"ORDER BY {LATEST_OBSERVED} LIMIT 1"
    ).fetchall()
    if not rows:
        raise RuntimeError("no registry document in the working data: materialize registry_raw first")
    rowid, sha256, source_url, fetched_at, n_bytes = rows[0]
    # Parsed inside DuckDB into temp tables, then swapped in whole.
    with parse_memory(con, n_bytes):
        tables = parse_registry(
            con,
            "SELECT document FROM registry_raw WHERE rowid = ?",
            [rowid],
            source=source_url,
            as_of=fetched_at.date(),
        )
    with transaction(con):
        for table in REGISTRY_TABLES:
            replace_rows(con, table, f"SELECT * FROM {tables.relations[table.name]} ORDER BY _order")
    previews = {}
    for table in REGISTRY_TABLES:
        shown = [c for c in table.column_names if c not in ("pitch", "sponsors", "thematiques", "usertypes")]
        columns = ", ".join(f'"{c}"' for c in shown)
        previews[table.name] = con.execute(
            f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order LIMIT 10"
        ).df()
    return _Parsed(sha256, tables, previews)


@dataclass
class _Declared:
    findings: int
    metadata: dict[str, Any]


def _write_declarations(con, latest: _Parsed | None) -> _Declared:
    """Add to registry_declarations what each stored document not parsed yet declared (`latest`'s parse reused)."""
    from impact_pipeline.defs.registry.parse import parse_memory, parse_registry

    columns = [c for c in DECLARATIONS.column_names if c != "sha256"]
    # A document is parsed once: its checksum keys its rows, which never change.
    todo = con.execute(
        f"""SELECT rowid, sha256, source_url, coalesce(observed_at, fetched_at), n_bytes FROM registry_raw
            WHERE document IS NOT NULL AND n_startups IS NOT NULL
              AND sha256 NOT IN (SELECT sha256 FROM "{DECLARATIONS.name}")
            QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY fetched_at DESC) = 1
            ORDER BY coalesce(observed_at, fetched_at)"""
    ).fetchall()
    # The latest document's parse is still in the connection's temp tables: it goes first, before another parse
    # replaces them.
    stored_order = {row[1]: i for i, row in enumerate(todo)}
    todo.sort(key=lambda row: latest is None or row[1] != latest.sha256)
    parsed, findings = [], 0
    for rowid, sha256, source, observed_at, n_bytes in todo:
        if latest is not None and sha256 == latest.sha256:
            tables = latest.tables
        else:
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
        with transaction(con):
            con.execute(f'DELETE FROM "{DECLARATIONS.name}" WHERE sha256 = ?', [sha256])
            con.execute(
                f'INSERT INTO "{DECLARATIONS.name}" (sha256, {selected}) '
                f"SELECT DISTINCT ON (startup_id) ?, {selected} FROM {tables.relations['startups']} "
                "ORDER BY startup_id, _order DESC",
                [sha256],
            )
        parsed.append(
            {
                "sha256": sha256,
                "observed_at": observed_at.date().isoformat(),
                "source": source,
                "n_startups": tables.row_counts["startups"],
                "n_findings": tables.row_counts["registry_findings"],
            }
        )
    parsed.sort(key=lambda entry: stored_order[entry["sha256"]])  # in the order observed, oldest first
    # Documents no longer in registry_raw take their declarations with them.
    con.execute(f'DELETE FROM "{DECLARATIONS.name}" WHERE sha256 NOT IN (SELECT sha256 FROM registry_raw)')
    n_rows, n_documents = con.execute(f'SELECT count(*), count(DISTINCT sha256) FROM "{DECLARATIONS.name}"').fetchall()[
        0
    ]
    observations = con.execute(
        f"""SELECT CAST(CAST(coalesce(r.observed_at, r.fetched_at) AS DATE) AS VARCHAR) AS observed,
                count(d.startup_id)
            FROM (SELECT DISTINCT sha256, coalesce(observed_at, fetched_at) AS observed_at, NULL AS fetched_at
                  FROM registry_raw WHERE n_startups IS NOT NULL) r
            LEFT JOIN "{DECLARATIONS.name}" d USING (sha256) GROUP BY ALL ORDER BY 1 DESC LIMIT 20"""
    ).fetchall()
    return _Declared(
        findings,
        {
            "dagster/row_count": int(n_rows),
            "n_documents": int(n_documents),
            "parsed": dg.MetadataValue.json(parsed),
            "preview": dg.MetadataValue.md(
                "| observed | services declared |\n|---|---|\n" + "\n".join(f"| {d} | {n} |" for d, n in observations)
            ),
        },
    )
