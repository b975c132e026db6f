"""Usage sources → usage_observations (+ usage_source_status), discovery proposals, and yearly_reach."""

from pathlib import Path

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.criteria import CriteriaSettings
from impact_pipeline.defs.metadata import preview as _preview
from impact_pipeline.defs.metadata import selected_together
from impact_pipeline.defs.metadata import table_metadata as _meta
from impact_pipeline.defs.partitions import DUCKDB_POOL, OWNERS
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.warehouse import Warehouse, replace_rows

GROUP = "usage"
# Built by the quality domain when it lands; read only if present (its yearly online procedures).
OBSERVATOIRE_TABLE = "startup_observatoire"


def _cache_dir(warehouse: Warehouse) -> Path:
    return Path(warehouse.work_dir) / "http_cache" / "usage"


def _replace_all(con, table: contract.Table, rows: list[dict]) -> None:
    """The table becomes exactly `rows` (a source that is down tonight shows as down, not as yesterday)."""
    replace_rows(con, table, rows)


def _usage_spec(table: contract.Table, description: str) -> dg.AssetSpec:
    """One of the usage tables, all read from the services of the registry."""
    return dg.AssetSpec(
        table.name,
        group_name=GROUP,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        deps=["startups"],
        description=description,
        metadata=_meta(table),
    )


USAGE_OBSERVATIONS = _usage_spec(
    contract.USAGE_OBSERVATIONS,
    "Usage figures of every service from its impact datasets, Matomo, Metabase, JSON files and declared figures.",
)
USAGE_SOURCE_STATUS = _usage_spec(
    contract.USAGE_SOURCE_STATUS,
    "Whether each usage source could be read in the latest run, with rows kept and rejected.",
)
USAGE_SOURCE_PROPOSALS = _usage_spec(
    contract.USAGE_SOURCE_PROPOSALS,
    "Usage sources recognised on the services' stats pages, proposed for review in the sources file.",
)
# One read of the configured sources writes both tables: they are materialized together.
_READ_TOGETHER = (USAGE_OBSERVATIONS.key, USAGE_SOURCE_STATUS.key)


@dg.multi_asset(
    specs=[USAGE_OBSERVATIONS, USAGE_SOURCE_STATUS, USAGE_SOURCE_PROPOSALS],
    can_subset=True,  # the proposals stay materializable alone
    pool=DUCKDB_POOL,
)
def usage_sources(context: dg.AssetExecutionContext, usage: UsageSources, warehouse: Warehouse):
    """The configured usage sources and the discovery of new ones on the stats pages, fetched side by side.

    Both wait on many hosts (Matomo, Metabase, data.gouv.fr; the services' own pages): in one step their requests
    overlap under the process's fetch limits instead of one set queueing behind the other. One failing never loses
    the other's rows.
    """
    from impact_pipeline.lib.fetching import start_each, wait_report, write_each

    selected = context.selected_asset_keys
    read = selected_together(
        context, [k.to_user_string() for k in _READ_TOGETHER], "are written by one read of the sources"
    )
    limits = usage.http.limits()  # the usage fetchers' scheduler
    tasks, writers = {}, {}
    # Discovered sources feed the observations: discovery runs whenever the observations are read (when it is on),
    # side by side with the configured sources; its writer runs first and hands its observations over.
    discovered: dict[str, object] = {}
    if USAGE_SOURCE_PROPOSALS.key in selected or (usage.discovery and read):
        with warehouse.connect() as con:  # read here: the tasks only fetch and parse
            pages = con.execute(
                "SELECT startup_id, stats_url FROM startups WHERE coalesce(trim(stats_url), "
                "'') <> '' ORDER BY startup_id"
            ).fetchall()
        tasks["usage_source_proposals"] = lambda: _discover(usage, warehouse, pages)
        writers["usage_source_proposals"] = lambda found: _write_proposals(
            context,
            warehouse,
            found,
            discovered,
            write=USAGE_SOURCE_PROPOSALS.key in selected,
            host_waits=wait_report(limits, context.log),
        )
    if read:
        with warehouse.connect() as con:
            startups = dict(con.execute("SELECT startup_id, name FROM startups").fetchall())
        tasks["usage_observations"] = lambda: _collect(context, usage, warehouse, startups)
        writers["usage_observations"] = lambda collected: _write_observations(
            context,
            warehouse,
            startups,
            *collected,
            discovered.get("found"),
            allow_private_network=usage.http.allow_private_network,
            host_waits=wait_report(limits, context.log),
        )
    yield from write_each(start_each(tasks), writers, context.log)


def _collect(context, usage: UsageSources, warehouse: Warehouse, startups: dict[str, str]):
    config = usage.load_config()
    unknown = sorted(set(config.services) - set(startups))
    if unknown:
        context.log.warning(f"usage sources file names services not in the registry: {', '.join(unknown)}")
    return config, usage.collect(startups, cache_dir=_cache_dir(warehouse))


def _write_observations(
    context,
    warehouse: Warehouse,
    startups: dict[str, str],
    config,
    collected,
    found=None,
    *,
    allow_private_network: bool = False,
    host_waits: dict | None = None,
):
    """The observations of every configured source (a source down is a status, never fatal) and of the discovered
    sources in use, and their statuses."""
    from impact_pipeline.defs.usage.resources import _timestamp
    from impact_pipeline.lib.urls import public_evidence_url

    extra = [dict(r, fetched_at=_timestamp(r["fetched_at"])) for r in found.observations] if found else []
    observations = [r for r in collected.observations + extra if r["startup_id"] in startups]
    for r in observations:  # an evidence URL that is not public (the one rule) is no evidence, never a failed gate
        r["evidence_url"] = public_evidence_url(r.get("evidence_url"), allow_private_network=allow_private_network)
    runs = [r.row() for r in collected.runs + (found.runs if found else [])]
    with warehouse.connect() as con:
        _replace_all(con, contract.USAGE_OBSERVATIONS, observations)
        _replace_all(con, contract.USAGE_SOURCE_STATUS, runs)
    errors = [r for r in runs if r["status"] == "error"]
    for r in errors:
        context.log.warning(f"usage source {r['source']} {r['source_ref']} ({r['startup_id']}): {r['error']}")
    rejected = sum(r["n_rejected"] for r in runs)
    if rejected:
        context.log.warning(f"usage sources: {rejected} malformed rows reported and left out (see usage_source_status)")
    yield dg.MaterializeResult(
        asset_key="usage_observations",
        metadata={
            "dagster/row_count": len(observations),
            "sources_file": str(config.path),
            "discovered_rows": sum(1 for r in observations if r.get("discovered_on")),
            "by_source": dg.MetadataValue.json(
                {
                    s: sum(1 for r in observations if r["source"] == s)
                    for s in sorted({r["source"] for r in observations})
                }
            ),
            "fetch_counters": dg.MetadataValue.json(collected.stats),
            "host_waits": dg.MetadataValue.json(host_waits or {}),
            "preview": _preview(
                observations,
                [
                    "startup_id",
                    "source",
                    "source_ref",
                    "indicator",
                    "value",
                    "unit",
                    "period_start",
                    "period_end",
                    "is_target",
                    "is_stock",
                ],
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="usage_source_status",
        metadata={
            "dagster/row_count": len(runs),
            "n_errors": len(errors),
            "n_rejected_rows": rejected,
            "preview": _preview(
                runs, ["startup_id", "source", "source_ref", "status", "error", "n_observations", "n_rejected"], n=20
            ),
        },
    )


def _discover(usage: UsageSources, warehouse: Warehouse, pages: list[tuple[str, str]]):
    """Usage sources recognised from the services' stats URLs and pages, each read once (None when discovery is off)."""
    if not usage.discovery:
        return None
    return pages, usage.discover(pages, cache_dir=_cache_dir(warehouse))


def _write_proposals(context, warehouse: Warehouse, found, discovered: dict, write: bool, host_waits: dict):
    if found is None:
        if not write:
            return
        with warehouse.connect() as con:
            n = con.execute("SELECT count(*) FROM usage_source_proposals").fetchall()[0][0]
        yield dg.MaterializeResult(
            asset_key="usage_source_proposals",
            metadata={"dagster/row_count": n, "skipped": "discovery disabled (IMPACT_USAGE_DISCOVERY=0)"},
        )
        return
    pages, result = found
    discovered["found"] = result
    if not write:
        return
    rows = result.rows
    with warehouse.connect() as con:
        _replace_all(con, contract.USAGE_SOURCE_PROPOSALS, rows)
    if result.problems:
        context.log.info(f"discovery: {len(result.problems)} stats pages not read (first: {result.problems[0]})")
    by_status = {s: sum(1 for r in rows if r["status"] == s) for s in ("in_use", "proposed", "reviewed")}
    yield dg.MaterializeResult(
        asset_key="usage_source_proposals",
        metadata={
            "dagster/row_count": len(rows),
            "n_pages": len(pages),
            "n_unconfirmed": sum(1 for r in rows if not r["confirmed"]),
            "by_status": dg.MetadataValue.json(by_status),
            "pages_not_read": dg.MetadataValue.json(result.problems[:50]),
            "fetch_counters": dg.MetadataValue.json(result.stats),
            "host_waits": dg.MetadataValue.json(host_waits),
            "preview": _preview(
                rows, ["proposal_id", "startup_id", "kind", "identifier", "status", "preview", "reason"], n=20
            ),
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    # startup_observatoire (quality domain): its yearly online procedures are a measured figure too.
    deps=["usage_observations", "usage_source_status", OBSERVATOIRE_TABLE],
    metadata=_meta(contract.YEARLY_REACH),
)
def yearly_reach(
    context: dg.AssetExecutionContext, warehouse: Warehouse, criteria: CriteriaSettings
) -> dg.MaterializeResult:
    """Each service's best yearly reach figure, by evidence ranking, with its source and public evidence URL."""
    from impact_pipeline.defs.usage.reach import yearly_reach as rule
    from impact_pipeline.lib.urls import public_evidence_url, web_address

    config = criteria.load()
    ranking = config.criteria.b.evidence_ranking
    with warehouse.connect() as con:
        observations = con.execute("SELECT * FROM usage_observations").df().to_dict("records")
        n_observatoire = 0
        has_observatoire = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [OBSERVATOIRE_TABLE]
        ).fetchall()[0][0]
        if has_observatoire:
            volumes = con.execute(
                f"""SELECT startup_id, year, online_volume, evidence_url FROM "{OBSERVATOIRE_TABLE}"
                    WHERE online_volume IS NOT NULL AND online_volume >= 0 AND year IS NOT NULL"""
            ).fetchall()
            n_observatoire = len(volumes)
            observations += [
                {
                    "startup_id": sid,
                    "source": "observatoire",
                    "source_ref": "observatoire online procedures",
                    "indicator": "online_volume",
                    "value": float(v),
                    "unit": "uses",
                    "period_start": f"{int(y)}-01-01",
                    "period_end": f"{int(y)}-12-31",
                    "is_target": False,
                    "is_stock": False,
                    "evidence_url": web_address(url),
                }
                for sid, y, v, url in volumes
            ]
        is_public = lambda url: public_evidence_url(url, allow_private_network=config.allow_private_network) is not None  # noqa: E731
        rows = ranked_by_review(
            observations, lambda obs: rule(obs, ranking, is_public, threshold=config.criteria.b.min_yearly_reach)
        )
        _replace_all(con, contract.YEARLY_REACH, rows)
    by_rank: dict[str, int] = {}
    for r in rows:
        by_rank[r["evidence_rank"]] = by_rank.get(r["evidence_rank"], 0) + 1
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "evidence_ranking": ", ".join(ranking),
            "by_rank": dg.MetadataValue.json(by_rank),
            "observatoire_rows": n_observatoire,
            "discovered_figures": sum(1 for r in rows if r.get("discovered_on")),
            "preview": _preview(
                rows, ["startup_id", "year", "value", "kind", "evidence_rank", "source", "upper_bound"], n=20
            ),
        }
    )


def ranked_by_review(observations: list[dict], rule) -> list[dict]:
    """Yearly figures with every reviewed source ranked above every discovered one: the discovered sources' figures
    count only for the service-years that no reviewed source (or the observatoire) gives a figure for."""
    reviewed = [o for o in observations if not o.get("discovered_on")]
    found = [o for o in observations if o.get("discovered_on")]
    rows = [dict(r, discovered_on=None) for r in rule(reviewed)]
    have = {(r["startup_id"], r["year"]) for r in rows}
    pages = {(o["startup_id"], o["source"], o["source_ref"]): o["discovered_on"] for o in found}
    rows += [
        dict(r, discovered_on=pages.get((r["startup_id"], r["source"], r["source_ref"])))
        for r in rule(found)
        if (r["startup_id"], r["year"]) not in have
    ]
    return sorted(rows, key=lambda r: (r["startup_id"], r["year"]))
