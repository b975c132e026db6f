"""Quality sources for criterion (c): the observatoire, repository activity and stats page checks."""

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.metadata import preview as _preview
from impact_pipeline.defs.metadata import table_asset
from impact_pipeline.defs.partitions import DUCKDB_POOL, single_run, yearly_partitions
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.lib.warehouse import Warehouse, replace_rows, transaction

GROUP = "quality"


@dg.asset(
    **table_asset(contract.OBSERVATOIRE_PROCEDURES, GROUP),
    pool=DUCKDB_POOL,
    # Needs nothing upstream, but runs after the registry chain that every other step waits for: its parse
    # (~50,000 indicator rows in Python) would otherwise share the interpreter with GX's import in the background
    # (`GateEngine`), and a fresh working file would get its schema in this fetching step.
    op_tags={"dagster/priority": "-1"},
)
def observatoire_procedures(
    context: dg.AssetExecutionContext, quality: QualitySources, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Every démarche of every observatoire edition with its indicators, one row per indicator, as published."""
    import json

    from impact_pipeline.defs.quality import observatoire as obs
    from impact_pipeline.lib.fetching import FetchRequest

    table = contract.OBSERVATOIRE_PROCEDURES
    base = quality.observatoire_url.strip()
    if not base:
        with warehouse.connect() as con:
            con.execute(f'DELETE FROM "{table.name}"')
        context.log.info(
            "observatoire: source disabled (IMPACT_OBSERVATOIRE_URL is empty); its sub-criteria are unknown"
        )
        return dg.MaterializeResult(metadata={"status": "disabled", "dagster/row_count": 0})

    local = obs.is_local_base(base)
    client = quality.client()
    try:
        fetcher = quality.fetcher(client, warehouse.work_dir)

        def request(url: str, key=None) -> FetchRequest:
            # Local paths only for the configured observatoire location (an offline mirror).
            return FetchRequest(url, "observatoire", key=key, allow_local_path=local, conditional=not local)

        first = fetcher.fetch_all([request(obs.editions_url(base))])[0]
        if first.result is None:
            context.log.warning(f"observatoire: editions unavailable ({first.error}); previous rows kept")
            return dg.MaterializeResult(metadata={"status": "error", "error": str(first.error)})
        try:
            editions, problems = obs.parse_editions(first.result.json())
        except ValueError:
            editions, problems = [], [f"{first.result.url}: not JSON"]
        wanted = [(e, obs.procedures_url(base, e.id)) for e in editions if e.year is not None]
        outcomes = fetcher.fetch_all(request(url, key=e) for e, url in wanted if url)
        stats = fetcher.stats.as_dict()
    finally:
        client.close()

    parsed = obs.ParsedEditions(quality.cache_dir(warehouse.work_dir) / "observatoire_editions.json")
    digests = obs.rows_digest_sql(table.name, table.column_names)
    with warehouse.connect(read_only=True) as con:
        stored = dict(con.execute(digests).fetchall())
    rows: list[dict] = []
    fetched_editions: list[str] = []
    kept: dict[str, str] = {}  # edition id -> fetch time: same bytes as the stored rows', not parsed again
    for o in outcomes:
        edition = o.request.key
        if o.result is None:
            problems.append(f"edition {edition.id}: {o.error.reason} (previous rows kept)")
            continue
        key = obs.edition_key(edition, o.result.sha256, o.request.url)
        if (entry := parsed.unchanged(edition.id, key, stored.get(edition.id))) is not None:
            kept[edition.id] = o.result.fetched_at.rstrip("Z")
            problems += entry.get("problems") or []
            continue
        try:
            document = o.result.json()
        except ValueError:
            problems.append(f"edition {edition.id}: the answer is not JSON (previous rows kept)")
            continue
        edition_rows, edition_problems = obs.procedure_rows(
            edition, document, o.result.fetched_at.rstrip("Z"), o.request.url
        )
        problems += edition_problems
        rows += edition_rows
        fetched_editions.append(edition.id)
        parsed.put(edition.id, key, edition_problems)

    with warehouse.connect() as con:
        with transaction(con):
            replace_rows(con, table, rows, "edition_id IN (SELECT unnest(?::VARCHAR[]))", [fetched_editions])
            for edition_id, fetched_at in kept.items():
                con.execute(
                    f'UPDATE "{table.name}" SET fetched_at = ?::TIMESTAMP WHERE edition_id = ?',
                    [fetched_at, edition_id],
                )
        n_rows, n_procedures = con.execute(
            f'SELECT count(*), count(DISTINCT (edition_id, procedure_id)) FROM "{table.name}"'
        ).fetchall()[0]
        parsed.stored(dict(con.execute(digests).fetchall()) if fetched_editions else {})
    parsed.save()  # after the commit: a key never names rows that were not stored
    for problem in problems:
        context.log.warning(f"observatoire: {problem}")
    return dg.MaterializeResult(
        metadata={
            "status": "ok",
            "dagster/row_count": n_rows,
            "editions": dg.MetadataValue.json([{"id": e.id, "name": e.name, "year": e.year} for e in editions]),
            "n_procedures": n_procedures,
            "editions_parsed": len(fetched_editions),
            "editions_unchanged": dg.MetadataValue.json(sorted(kept)),
            "problems": dg.MetadataValue.json(problems),
            "requests": dg.MetadataValue.json(json.loads(json.dumps(stats))),
        }
    )


@dg.asset(
    **table_asset(contract.STARTUP_OBSERVATOIRE, GROUP),
    pool=DUCKDB_POOL,
    deps=[observatoire_procedures, "startups"],
)
def startup_observatoire(
    context: dg.AssetExecutionContext, quality: QualitySources, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Per service and year, the observatoire's headline goals, help reachability and online volume of its démarches."""
    from impact_pipeline.defs.quality import observatoire as obs

    overrides = obs.HostOverrides.load(quality.observatoire_hosts_path or None)
    table = contract.STARTUP_OBSERVATOIRE
    with warehouse.connect() as con:
        cursor = con.execute("SELECT * FROM observatoire_procedures")
        names = [d[0] for d in cursor.description]
        procedures = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        startups = con.execute("SELECT startup_id, link FROM startups").fetchall()
        hosts = {p["host"] for p in procedures if p["host"]}
        matches = obs.match_hosts(startups, hosts, overrides)
        rows = obs.startup_observatoire_rows(procedures, matches)
        replace_rows(con, table, rows)
    unknown_ids = sorted({s for pairs in overrides.hosts.values() for s in pairs} - {s for s, _ in startups})
    if unknown_ids:
        context.log.warning(f"observatoire overrides name unknown startups: {', '.join(unknown_ids)}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "n_services": len({r["startup_id"] for r in rows}),
            "matched_hosts": len(matches),
            "unmatched_hosts": len(hosts) - len(matches),
            "preview": _preview(
                rows,
                [
                    "startup_id",
                    "year",
                    "edition",
                    "n_procedures",
                    "goals_reached",
                    "goals_total",
                    "help_reachable",
                    "online_volume",
                ],
            ),
        }
    )


REPOSITORY_ACTIVITY = dg.AssetSpec(
    "repository_activity",
    description="Per service and year, the activity of its declared repository: commits in the year, "
    "last push, archived, public.",
    **table_asset(contract.REPOSITORY_ACTIVITY, GROUP),
    partitions_def=yearly_partitions,
    deps=["startups"],
)
STATS_PAGE_CHECKS = dg.AssetSpec(
    "stats_page_checks",
    description="Whether each declared stats page and repository answers now: status, "
    "time and final URL after redirects.",
    **table_asset(contract.STATS_PAGE_CHECKS, GROUP),
    deps=["startups"],
)


@dg.multi_asset(
    specs=[REPOSITORY_ACTIVITY, STATS_PAGE_CHECKS],
    can_subset=True,  # each one stays materializable alone
    pool=DUCKDB_POOL,
    backfill_policy=single_run,
)
def activity_and_page_checks(context: dg.AssetExecutionContext, quality: QualitySources, warehouse: Warehouse):
    """Repository activity and stats page checks, fetched side by side under the shared fetch limits.

    Each is bounded by its own busiest host (api.github.com, github.com): run in one step, their requests
    overlap instead of queueing one step after the other. One failing never loses the other's rows.
    """
    from impact_pipeline.defs.gates.resources import preload_for_gates
    from impact_pipeline.defs.gates.validate import has_clean_results
    from impact_pipeline.lib.fetching import start_each, wait_report, write_each

    # The gates of these tables need GX when one has no clean result yet: its import then overlaps the wait for the
    # forges' and pages' answers. Later runs validate the night's new checks without GX when they are like earlier ones.
    if not all(has_clean_results(warehouse.validations_dir, t) for t in ("repository_activity", "stats_page_checks")):
        preload_for_gates()
    selected = context.selected_asset_keys
    with warehouse.connect() as con:
        cursor = con.execute("SELECT startup_id, stats_url, repository FROM startups")
        names = [d[0] for d in cursor.description]
        startups = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    limits = quality.http.limits()  # both fetch sets count against the same totals, per host and overall
    tasks, writers = {}, {}
    if REPOSITORY_ACTIVITY.key in selected:
        years = [int(k) for k in context.partition_keys]
        tasks["repository_activity"] = lambda: _fetch_activity(quality, warehouse.work_dir, startups, years, limits)
        writers["repository_activity"] = lambda fetched: [
            _write_activity(context, warehouse, years, *fetched, host_waits=wait_report(limits, context.log))
        ]
    if STATS_PAGE_CHECKS.key in selected:
        tasks["stats_page_checks"] = lambda: _fetch_page_checks(quality, warehouse.work_dir, startups, limits)
        writers["stats_page_checks"] = lambda fetched: [
            _write_page_checks(context, warehouse, *fetched, host_waits=wait_report(limits, context.log))
        ]
    yield from write_each(start_each(tasks), writers, context.log)


def _fetch_activity(quality: QualitySources, work_dir: str, startups: list[dict], years: list[int], limits):
    from impact_pipeline.defs.quality import forges

    # Parsed once per distinct value (RepoRef is immutable): services often share a repository.
    values = [(s["startup_id"], s["repository"]) for s in startups if s["repository"] is not None]
    parsed = {value: forges.parse_repository(value) for value in {value for _, value in values}}
    repos = [(sid, ref) for sid, value in values if (ref := parsed[value]) is not None]
    apis = {
        forges.GITHUB: forges.ForgeApi(forges.GITHUB, quality.github_api_url, quality.github_token),
        forges.GITLAB: forges.ForgeApi(forges.GITLAB, quality.gitlab_api_url, quality.gitlab_token),
    }
    client = quality.client()
    try:
        return forges.collect_activity(
            repos,
            years,
            apis,
            lambda guard: quality.fetcher(
                client, work_dir, limits=limits, should_skip=guard.should_skip, on_outcome=guard.observe
            ),
            gitlab_self_hosted=quality.gitlab_self_hosted,
        )
    finally:
        client.close()


def _write_activity(
    context, warehouse: Warehouse, years: list[int], rows: list[dict], summary: dict, host_waits: dict
) -> dg.MaterializeResult:
    import json

    table = contract.REPOSITORY_ACTIVITY
    with warehouse.connect() as con:
        replace_rows(con, table, rows, "year IN (SELECT unnest(?::INTEGER[]))", [years])
    for forge, reason in summary["rate_limited"].items():
        context.log.warning(f"{forge}: {reason}; the remaining repositories are marked rate_limited")
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return dg.MaterializeResult(
        asset_key=REPOSITORY_ACTIVITY.key,
        metadata={
            "dagster/row_count": len(rows),
            "years": ", ".join(map(str, years)),
            "statuses": dg.MetadataValue.json(statuses),
            "requests": dg.MetadataValue.json(json.loads(json.dumps(summary["requests"]))),
            "rate_limited": dg.MetadataValue.json(summary["rate_limited"]),
            "host_waits": dg.MetadataValue.json(host_waits),
            "preview": _preview(rows, ["startup_id", "year", "repo", "commits_in_year", "status"]),
        },
    )


def _fetch_page_checks(
    quality: QualitySources, work_dir: str, startups: list[dict], limits
) -> tuple[str, list[dict], dict]:
    """(mode, rows, request counters); mode "disabled" when IMPACT_URL_CHECKS=0."""
    from impact_pipeline.defs.quality import url_checks
    from impact_pipeline.lib.fetching import RECHECK_BUDGET_SECONDS

    targets = url_checks.targets_from_startups(startups)
    if quality.url_checks_recorded:
        return "recorded answers (offline)", url_checks.run_recorded_checks(targets, quality.url_checks_recorded), {}
    if not quality.url_checks:
        return "disabled", [], {}
    client = quality.client(**quality.check_policy_overrides())
    try:
        fetcher = quality.fetcher(client, work_dir, limits=limits, recheck_budget=RECHECK_BUDGET_SECONDS)
        rows = url_checks.run_checks(targets, fetcher)
        return "live", rows, fetcher.stats.as_dict()
    finally:
        client.close()


def _write_page_checks(
    context, warehouse: Warehouse, mode: str, rows: list[dict], stats: dict, host_waits: dict
) -> dg.MaterializeResult:
    import json

    if mode == "disabled":
        context.log.info("stats page checks disabled (IMPACT_URL_CHECKS=0): their sub-criteria are unknown")
        return dg.MaterializeResult(
            asset_key=STATS_PAGE_CHECKS.key, metadata={"status": "disabled", "dagster/row_count": 0}
        )
    with warehouse.connect() as con:
        if rows:
            # A re-run with the same recorded answers replaces them instead of piling duplicates.
            replace_rows(con, contract.STATS_PAGE_CHECKS, rows, "checked_at = ?::TIMESTAMP", [rows[0]["checked_at"]])
    return dg.MaterializeResult(
        asset_key=STATS_PAGE_CHECKS.key,
        metadata={
            "status": mode,
            "dagster/row_count": len(rows),
            "n_ok": sum(1 for r in rows if r["ok"]),
            "requests": dg.MetadataValue.json(json.loads(json.dumps(stats))),
            "host_waits": dg.MetadataValue.json(host_waits),
            "preview": _preview(rows, ["startup_id", "kind", "url", "status_code", "ok", "error"]),
        },
    )


# The web archive's captures live in their own module; imported here so that the quality group loads it.
from impact_pipeline.defs.quality.web_archive import web_archive_captures  # noqa: E402,F401
