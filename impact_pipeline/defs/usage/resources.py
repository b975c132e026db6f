"""Usage sources as one typed resource: reads the reviewed sources file, fetches every source through the
shared HTTP layer (concurrent, per-host limits, conditional refresh) and hands back observations, one
status per source (a source down is an outcome, never a crash) and per-source fetch counters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from impact_pipeline.defs.usage.adapters.base import Read
from impact_pipeline.lib.fetching import RECHECK_BUDGET_SECONDS, FetchOutcome, FetchRequest, FetchStats, start_each
from impact_pipeline.lib.http import FetchError, is_local_path, page_read_overrides, redact_url
from impact_pipeline.lib.http_settings import FetchingResource, HttpSettings, http_settings_field
from impact_pipeline.lib.urls import web_address

MAX_DATAGOUV_PAGES = 20


@dataclass
class SourceRun:
    """The outcome of one source for one service, written to usage_source_status."""

    startup_id: str | None
    source: str
    source_ref: str
    status: str = "ok"
    error: str | None = None
    n_observations: int = 0
    n_rejected: int = 0
    problems: list[str] = field(default_factory=list)
    fetched_at: str | None = None
    discovered_on: str | None = None  # the stats page a discovered source was found on (None: reviewed)

    def row(self) -> dict[str, Any]:
        # usage_source_status's columns are the fields, in their order; only these two are written differently.
        return dict(
            asdict(self), problems="; ".join(self.problems[:20]) or None, fetched_at=_timestamp(self.fetched_at)
        )


@dataclass
class Collected:
    observations: list[dict[str, Any]]
    runs: list[SourceRun]
    stats: dict[str, Any]


@dataclass
class _Job:
    """A source's read and the status its answer fills."""

    read: Read
    run: SourceRun


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(text: str | None) -> datetime:
    text = text or _now()
    return datetime.strptime(text.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")


class UsageSources(FetchingResource):
    """Usage statistics sources of the services (reviewed sources file, declared figures, data.gouv.fr)."""

    sources_path: str | None = Field(
        default=None, description="Reviewed sources file (IMPACT_USAGE_SOURCES_PATH); none = no source."
    )
    declared_figures_path: str | None = Field(
        default=None, description="Reviewed declared figures CSV (IMPACT_DECLARED_FIGURES_PATH)."
    )
    datagouv_url: str = Field(
        default="",
        description="data.gouv.fr datasets API filtered by the impact schema (IMPACT_DATAGOUV_URL); empty disables it.",
    )
    discovery: bool = Field(
        default=False, description="Read services' stats pages to propose sources (IMPACT_USAGE_DISCOVERY)."
    )
    http: HttpSettings = http_settings_field()
    page_timeout_seconds: float = Field(
        default=20.0, description="Total time allowed to one read of a stats page by discovery (no retry)."
    )
    matomo_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Matomo tokens by environment variable name (IMPACT_MATOMO_TOKEN_<HOST>), read through dg.EnvVar.",
    )

    def load_config(self):
        from impact_pipeline.defs.usage.sources_config import load_sources

        return load_sources(self.sources_path)

    def _fetcher(
        self, cache_dir: str | Path | None, stats: FetchStats | None = None, recheck: float | None = None, **policy: Any
    ):
        """A fetcher counting in the process's limits (`process_limits`): fetchers running side by side, in this step
        or another of the process, share them. `policy` overrides the HTTP policy (e.g. `page_read_overrides`), and
        `recheck` is the `Fetcher.recheck_budget`."""
        from impact_pipeline.lib.fetching import Fetcher, ResponseCache
        from impact_pipeline.lib.http import HttpClient

        client = HttpClient(self.http.policy(**policy))
        cache = ResponseCache(Path(cache_dir)) if cache_dir else None
        return Fetcher(client, cache=cache, limits=self.http.limits(), stats=stats, recheck_budget=recheck)

    def _run_jobs(self, fetcher, reads: list[Read]) -> list[FetchOutcome]:
        """Remote requests through the Fetcher; configured local paths read directly (same size cap)."""
        remote = [r.request for r in reads if not r.local]
        outcomes = iter(fetcher.fetch_all(remote))
        out = []
        for read in reads:
            if not read.local:
                out.append(next(outcomes))
                continue
            result, error = None, None
            try:
                result = fetcher.client.fetch(read.request.url, allow_local_path=True)
            except FetchError as exc:
                error = exc
            fetcher.stats.record(
                read.request.source, elapsed=result.elapsed if result else 0.0, result=result, error=error
            )
            out.append(FetchOutcome(read.request, result, error))
        return out

    # -- the sources ------------------------------------------------------------------------------

    def _jobs_for(self, spec, config, today: date) -> list[_Job]:
        """The requests of one source, as its type's adapter makes them."""
        from impact_pipeline.defs.usage.adapters import ADAPTERS
        from impact_pipeline.defs.usage.adapters.base import ReadContext

        adapter = ADAPTERS[spec.type]
        context = ReadContext(config.first_year, today, self.matomo_tokens)
        return [_Job(r, SourceRun(spec.startup_id, adapter.source, r.source_ref)) for r in adapter.reads(spec, context)]

    @staticmethod
    def _apply(job: _Job, outcome: FetchOutcome, observations: list[dict]) -> None:
        from impact_pipeline.defs.usage.observations import SourceError

        read, run = job.read, job.run
        # A configured local copy is named by its file name (no machine paths in reasons).
        where = f"offline copy {Path(read.request.url).name}" if read.local else redact_url(read.request.url)
        if outcome.error is not None:
            run.status, run.error = "error", f"{where}: {outcome.error.reason}"
            return
        run.fetched_at = outcome.result.fetched_at
        try:
            parsed = read.parse(outcome.result.content, outcome.result.fetched_at)
        except SourceError as exc:
            run.status, run.error = "error", f"{where}: {exc}"
            return
        rows = [o.row() for o in parsed.observations]
        observations.extend(rows)
        run.n_observations += len(rows)
        run.n_rejected += parsed.n_rejected
        run.problems += parsed.problems
        run.status = "ok" if rows else "empty"

    def collect(
        self, startups: dict[str, str], cache_dir: str | Path | None = None, today: date | None = None
    ) -> Collected:
        """Read every configured source, the declared figures and the discovered impact datasets.

        `startups` maps startup_id → name (for data.gouv.fr files naming their service).
        """
        from concurrent.futures import wait

        config = self.load_config()
        today = today or date.today()
        stats = FetchStats()
        configured_urls = {s.options.url for s in config.all_sources if s.type == "impact_csv"}

        def configured() -> tuple[list[dict[str, Any]], list[SourceRun]]:
            fetcher, observed = self._fetcher(cache_dir, stats), []
            try:
                jobs = [job for spec in config.all_sources for job in self._jobs_for(spec, config, today)]
                for job, outcome in zip(jobs, self._run_jobs(fetcher, [j.read for j in jobs]), strict=True):
                    self._apply(job, outcome, observed)
            finally:
                fetcher.client.close()
            # A Matomo source is one status even when it took two requests (years and months).
            return observed, _merge_runs([j.run for j in jobs])

        def discovered() -> tuple[list[dict[str, Any]], list[SourceRun]]:
            fetcher, observed = self._fetcher(cache_dir, stats), []
            try:
                return observed, self._datagouv(fetcher, config, startups, configured_urls, observed)
            finally:
                fetcher.client.close()

        # The configured sources and the data.gouv.fr discovery (a listing, then its files) are independent: their
        # requests overlap within the shared limits instead of one set waiting for the other.
        done = start_each({"configured": configured, "discovered": discovered})
        wait(done.values())
        # .result() raises a set's error: a bug, not a source down (those are statuses): the step fails as before
        observations, runs = done["configured"].result()
        observations, runs = list(observations), list(runs)
        runs += self._declared(observations, set(startups))
        observations += done["discovered"].result()[0]
        runs += done["discovered"].result()[1]
        for row in observations:
            row["fetched_at"] = _timestamp(row["fetched_at"])
        return Collected(observations, runs, stats.as_dict())

    def _declared(self, observations: list[dict], known: set[str]) -> list[SourceRun]:
        from impact_pipeline.defs.usage.adapters import DECLARED
        from impact_pipeline.defs.usage.declared import parse_declared
        from impact_pipeline.defs.usage.observations import SourceError

        if not self.declared_figures_path:
            return []
        path = Path(self.declared_figures_path)
        run = SourceRun(None, DECLARED, path.name, fetched_at=_now())
        try:
            parsed = parse_declared(path.read_bytes(), source_ref=path.name, fetched_at=run.fetched_at, known_ids=known)
        except (OSError, SourceError, UnicodeDecodeError) as exc:
            run.status, run.error = "error", f"{path.name}: {exc}"
            return [run]
        rows = [o.row() for o in parsed.observations]
        observations.extend(rows)
        per_service: dict[str, SourceRun] = {}
        for r in rows:
            s = per_service.setdefault(
                r["startup_id"], SourceRun(r["startup_id"], DECLARED, r["source_ref"], fetched_at=run.fetched_at)
            )
            s.n_observations += 1
        if parsed.n_rejected or not rows:
            run.n_rejected, run.problems, run.status = parsed.n_rejected, parsed.problems, "ok" if rows else "empty"
            run.n_observations = len(rows)
            return [*per_service.values(), run]
        return list(per_service.values())

    def _datagouv(
        self, fetcher, config, startups: dict[str, str], configured: set, observations: list[dict]
    ) -> list[SourceRun]:
        """Impact datasets discovered on data.gouv.fr by schema, matched to services by name or alias."""
        from urllib.parse import urlsplit

        from impact_pipeline.defs.usage.adapters.impact_csv import parse_datasets_page, parse_impact_csv
        from impact_pipeline.defs.usage.observations import SourceError, normalise_name

        listing = (self.datagouv_url or "").strip()
        if not listing:
            return []
        origin = urlsplit(listing)[:2]
        resources, page_url, pages, runs = [], listing, 0, []
        while page_url and pages < MAX_DATAGOUV_PAGES:
            local = is_local_path(page_url) and pages == 0  # an offline mirror of the listing (operator's setting)
            outcome = self._run_jobs(fetcher, [Read(FetchRequest(page_url, "datagouv"), local, "data.gouv.fr")])[0]
            pages += 1
            try:
                if outcome.error is not None:
                    raise SourceError(str(outcome.error))
                found, next_page = parse_datasets_page(outcome.result.json())
            except (SourceError, FetchError) as exc:
                runs.append(
                    SourceRun(None, "impact_dataset", "data.gouv.fr", status="error", error=str(exc), fetched_at=_now())
                )
                break
            resources += found
            # Follow pagination only on the API's own origin.
            page_url = next_page if next_page and urlsplit(next_page)[:2] == origin and web_address(next_page) else None
        by_name = {normalise_name(name): sid for sid, name in startups.items() if name}
        aliases = {normalise_name(k): v for k, v in config.datagouv_aliases.items()}
        wanted = [
            r
            for r in resources
            if r.dataset_id not in config.datagouv_ignore and r.url not in configured and web_address(r.url)
        ]
        jobs = [Read(FetchRequest(r.url, "datagouv", key=r), False, r.url) for r in wanted]
        for job, outcome in zip(jobs, self._run_jobs(fetcher, jobs), strict=True):
            r = job.request.key
            ref = f"data.gouv.fr dataset {r.dataset_id} resource {r.resource_id}"
            if outcome.error is not None:
                runs.append(
                    SourceRun(None, "impact_dataset", ref, status="error", error=str(outcome.error), fetched_at=_now())
                )
                continue
            try:
                parsed, by_service = parse_impact_csv(
                    outcome.result.content,
                    startup_id=None,
                    source_ref=ref,
                    evidence_url=web_address(r.page),
                    fetched_at=outcome.result.fetched_at,
                )
            except SourceError as exc:
                runs.append(
                    SourceRun(
                        None,
                        "impact_dataset",
                        ref,
                        status="error",
                        error=str(exc),
                        fetched_at=outcome.result.fetched_at,
                    )
                )
                continue
            unmatched = []
            for name, rows in by_service.items():
                sid = aliases.get(normalise_name(name)) or by_name.get(normalise_name(name))
                if sid is None:
                    unmatched.append(name)
                    continue
                for obs in rows:
                    obs.startup_id = sid
                observations.extend(o.row() for o in rows)
                runs.append(
                    SourceRun(
                        sid, "impact_dataset", ref, n_observations=len(rows), fetched_at=outcome.result.fetched_at
                    )
                )
            if unmatched or parsed.n_rejected:
                problems = [f"service {n!r} matches no startup (add an alias)" for n in unmatched] + parsed.problems
                runs.append(
                    SourceRun(
                        None,
                        "impact_dataset",
                        ref,
                        status="ok" if by_service else "empty",
                        n_rejected=parsed.n_rejected,
                        problems=problems,
                        fetched_at=outcome.result.fetched_at,
                    )
                )
        return runs

    # -- discovery ----------------------------------------------------------------------------------

    def _reviewed_keys(self, config) -> set[tuple[str, str, str, str]]:
        """(startup_id, kind, instance, identifier) of every source the reviewed file already has."""
        from impact_pipeline.defs.usage.adapters import ADAPTERS

        return {
            (spec.startup_id, *key)
            for spec in config.all_sources
            for key in ADAPTERS[spec.type].proposal_keys(spec.options)
        }

    def discover(
        self, pages: list[tuple[str, str]], cache_dir: str | Path | None = None, today: date | None = None
    ) -> Discovered:
        """Recognise the sources of each (startup_id, stats_url), read each one once, and judge it.

        The stats URL itself may be the source (a Matomo UI URL, a Metabase public dashboard): then the page is not
        read. Otherwise the page is read and every source it references is proposed; a dashboard's cards are listed
        through `/api/public/dashboard/<uuid>`. Each proposal gets a trial read: an unambiguous one (see
        `discovery.plan_card`; a Matomo site answering anonymously; an impact dataset) is used as a discovered source,
        the others stay proposals with a preview. Proposals rejected in the sources file are not offered again.
        Only public http(s) URLs are fetched; a URL listed in `discovery.mirrors` is read from its reviewed copy.
        """
        from impact_pipeline.defs.usage import discovery as d

        config = self.load_config()
        today = today or date.today()
        reviewed = self._reviewed_keys(config)
        mirrors = config.discovery_mirrors
        fetcher = self._fetcher(cache_dir)
        problems: list[str] = []
        found: dict[tuple[str, d.Proposal], tuple[str, str]] = {}  # (sid, proposal) -> (stats page, read at)

        def request(url: str, source: str, key: Any) -> Read | None:
            mirror = mirrors.get(url)
            if mirror:
                return Read(FetchRequest(mirror, source, key=key), True, url)
            if web_address(url) is None:
                return None
            return Read(FetchRequest(url, source, key=key), False, url)

        try:
            jobs = []
            for sid, raw in pages:
                raw = (raw or "").strip()
                page = web_address(raw) or (raw if raw in mirrors else None)
                direct = d.from_stats_url(raw) if page else []
                if direct:  # the stats URL is the source: its page (a JavaScript application) says nothing more
                    for p in direct:
                        found.setdefault((sid, p), (page, _now()))
                    continue
                job = (
                    request(raw, "stats_page", (sid, page))
                    if page and (raw in mirrors or config.discovery_registry_pages)
                    else None
                )
                if job is not None:
                    jobs.append(job)
                elif page is None:
                    problems.append(f"{sid}: stats_url {raw[:100]!r} is not an http(s) URL (not fetched)")
            # Stats pages are read as the URL checks read them: a silent page costs one short timeout, no retry.
            pages_fetcher = self._fetcher(
                cache_dir, fetcher.stats, RECHECK_BUDGET_SECONDS, **page_read_overrides(self.page_timeout_seconds)
            )
            try:
                page_outcomes = self._run_jobs(pages_fetcher, jobs)
            finally:
                pages_fetcher.client.close()
            for job, outcome in zip(jobs, page_outcomes, strict=True):
                sid, page = job.request.key
                if outcome.error is not None:
                    problems.append(f"{sid}: {outcome.error}")
                    continue
                for p in d.find_sources(outcome.result.content.decode("utf-8", errors="replace"), page):
                    found.setdefault((sid, p), (page, outcome.result.fetched_at))
            rejected = config.rejected
            items = [
                (sid, p, *where) for (sid, p), where in found.items() if d.proposal_id(sid, *p.key) not in rejected
            ]
            cards, dashboards = self._dashboard_cards(fetcher, request, items, rejected)
            return self._trial_reads(fetcher, request, config, items + cards, dashboards, reviewed, today, problems)
        finally:
            fetcher.client.close()

    def _dashboard_cards(self, fetcher, request, items, rejected) -> tuple[list[tuple], dict[tuple, str]]:
        """The cards of every proposed dashboard, each a proposal of its own, and what became of each dashboard."""
        from impact_pipeline.defs.usage import discovery as d

        jobs = []
        for sid, p, page, _at in items:
            if p.kind == "metabase_dashboard":
                job = request(f"{p.instance}/api/public/dashboard/{p.identifier}", "metabase", (sid, p, page))
                if job is not None:
                    jobs.append(job)
        dashboards: dict[tuple, str] = {}
        cards = []
        for job, outcome in zip(jobs, self._run_jobs(fetcher, jobs), strict=True):
            sid, p, page = job.request.key
            try:
                if outcome.error is not None:
                    raise ValueError(outcome.error.reason)
                listed = d.dashboard_cards(outcome.result.json(), p.instance, p.identifier)
            except (ValueError, FetchError) as exc:
                dashboards[(sid, p)] = f"cannot be read: {exc}"
                continue
            dashboards[(sid, p)] = (
                f"a dashboard of {len(listed)} card{'' if len(listed) == 1 else 's'}, each proposed on its own"
            )
            cards += [
                (sid, c, page, outcome.result.fetched_at) for c in listed if d.proposal_id(sid, *c.key) not in rejected
            ]
        return cards, dashboards

    def _trial_reads(self, fetcher, request, config, items, dashboards, reviewed, today, problems) -> Discovered:
        """Read every proposal once; the unambiguous ones become discovered sources (their observations)."""
        from impact_pipeline.defs.usage import discovery as d
        from impact_pipeline.defs.usage.adapters import impact_csv, matomo, metabase
        from impact_pipeline.defs.usage.adapters.base import SourceSpec, instance_name
        from impact_pipeline.defs.usage.observations import REACH_UNITS, Origin, SourceError, parse_json

        rows, observations, runs = [], [], []
        reads: list[tuple[dict, SourceRun, _Job]] = []
        for sid, p, page, at in items:
            row = {
                "proposal_id": d.proposal_id(sid, *p.key),
                "startup_id": sid,
                "stats_url": page,
                "kind": p.kind,
                "instance": p.instance,
                "identifier": p.identifier,
                "name": p.name or None,
                "found_at": _timestamp(at),
                "confirmed": (sid, *p.key) in reviewed,
                "status": "proposed",
                "preview": None,
                "reason": None,
                "date_column": None,
                "value_column": None,
                "unit": None,
                "period": None,
                "data_url": None,
            }
            rows.append(row)
            evidence = web_address(page)
            tail = f", discovered on {page}, not reviewed"
            if row["confirmed"]:
                row["status"], row["preview"] = "reviewed", "in the reviewed sources file"
                continue
            if p.kind == "metabase_dashboard":
                row["reason"] = dashboards.get((sid, p), "its cards could not be listed")
                continue
            if p.kind == "matomo":
                ref = f"{instance_name(p.instance)} site {p.identifier}"
                row["data_url"] = matomo.dashboard_url(p.instance, p.identifier, today.year)
                spec = SourceSpec(
                    sid,
                    matomo.MatomoOptions(
                        base_url=p.instance,
                        site_id=p.identifier,
                        anonymous=True,
                        evidence_url=evidence,
                        name=ref + tail,
                        offline_response=config.discovery_mirrors.get(matomo_mirror_key(p.instance, p.identifier)),
                    ),
                )
                job = self._jobs_for(spec, config, today)[0]
            elif p.kind == "impact_csv":
                mirror = config.discovery_mirrors.get(p.instance)
                if mirror is None and web_address(p.instance) is None:
                    row["reason"] = "cannot be read: not a public http(s) URL"
                    continue
                row["data_url"] = p.instance
                spec = SourceSpec(
                    sid,
                    impact_csv.ImpactCsvOptions(
                        url=mirror or p.instance, evidence_url=evidence, name=p.instance.rsplit("/", 1)[-1] + tail
                    ),
                )
                job = self._jobs_for(spec, config, today)[0]
            else:  # a Metabase question or a dashboard's card: the columns are judged once the rows are in
                if p.kind == "metabase_question":
                    data_url = metabase.question_data_url(p.instance, p.identifier)
                    ref = metabase.question_name(p.instance, p.identifier)
                else:
                    data_url = d.dashcard_data_url(p.instance, p.identifier)
                    uuid, _, card = p.identifier.split("/")
                    ref = f"{instance_name(p.instance)} dashboard {uuid[:8]} card {card}"
                row["data_url"] = data_url
                read = request(data_url, "metabase", None)
                if read is None:
                    row["reason"] = "cannot be read: not a public http(s) URL"
                    continue
                job = _Job(read, SourceRun(sid, "metabase", ref + tail))
            job.run.discovered_on = page
            reads.append((row, job.run, job))
        outcomes = self._run_jobs(fetcher, [job.read for _, _, job in reads])
        for (row, run, job), outcome in zip(reads, outcomes, strict=True):
            observed: list[dict] = []
            if row["kind"] in ("metabase_question", "metabase_dashboard_card"):
                try:
                    if outcome.error is not None:
                        raise SourceError(outcome.error.reason)
                    document = d.card_rows(parse_json(outcome.result.content, "Metabase answer"))
                    plan = d.plan_card(document)
                    row.update(
                        date_column=plan.date_column, value_column=plan.value_column, unit=plan.unit, period=plan.period
                    )
                    if plan.ambiguity:
                        row["reason"] = f"ambiguous: {plan.ambiguity}"
                        row["preview"] = _card_previews(document, plan, row)
                        continue
                    parsed = metabase.parse_card_rows(
                        document,
                        date_column=plan.date_column,
                        value_column=plan.value_column,
                        period=plan.period,
                        unit=plan.unit,
                        indicator=plan.value_column,
                        origin=Origin(
                            row["startup_id"],
                            "metabase",
                            run.source_ref,
                            outcome.result.fetched_at,
                            web_address(row["stats_url"]),
                        ),
                    )
                except SourceError as exc:
                    row["reason"] = f"cannot be read: {exc}"
                    continue
                observed = [o.row() for o in parsed.observations]
                run.fetched_at, run.n_rejected, run.problems = (
                    outcome.result.fetched_at,
                    parsed.n_rejected,
                    parsed.problems,
                )
                run.n_observations, run.status = len(observed), "ok" if observed else "empty"
            else:
                self._apply(job, outcome, observed)
                if run.status == "error":
                    row["reason"] = f"cannot be read: {run.error}"
                    continue
                if row["kind"] == "matomo":  # what the dashboard counts: visits (unique visitors are rarely computed)
                    row["value_column"], row["unit"], row["period"] = "nb_visits", "visits", "year"
            row["preview"] = d.preview(observed)
            if not any(o["unit"] in REACH_UNITS for o in observed) or row["preview"] is None:
                row["reason"] = "read, but no yearly figure of people or uses"
                continue
            for o in observed:
                o["discovered_on"] = row["stats_url"]
            row["status"] = "in_use"
            observations += observed
            runs.append(run)
        return Discovered(rows, observations, _merge_runs(runs), problems, fetcher.stats.as_dict())


def matomo_mirror_key(base: str, site: str) -> str:
    """The URL a discovered Matomo site's reviewed copy is listed under in `discovery.mirrors` (the API request
    without its date range, which changes every day)."""
    return f"{base.rstrip('/')}/index.php?module=API&method=VisitsSummary.get&idSite={site}&period=year"


def _card_previews(document: list[dict], plan, row: dict) -> str | None:
    """For an ambiguous card: what each numeric column that says what it counts would yield."""
    from impact_pipeline.defs.usage import discovery as d
    from impact_pipeline.defs.usage.adapters.metabase import parse_card_rows
    from impact_pipeline.defs.usage.observations import Origin, SourceError

    if not plan.date_column:
        return f"columns: {', '.join(plan.columns)}"
    out = []
    for column in plan.columns:
        unit = d.counted_unit(column)
        if column == plan.date_column or unit is None:
            continue
        try:
            parsed = parse_card_rows(
                document,
                date_column=plan.date_column,
                value_column=column,
                period=plan.period or "month",
                unit=unit,
                indicator=column,
                origin=Origin(row["startup_id"], "metabase", "preview", _now()),
            )
        except SourceError:
            continue
        text = d.preview([o.row() for o in parsed.observations])
        if text:
            out.append(f"{column} → {text}")
    return " | ".join(out) or f"columns: {', '.join(plan.columns)}"


@dataclass
class Discovered:
    """What discovery found: proposal rows, and the observations and statuses of the discovered sources in use."""

    rows: list[dict[str, Any]]
    observations: list[dict[str, Any]]
    runs: list[SourceRun]
    problems: list[str]
    stats: dict[str, Any]


def _merge_runs(runs: list[SourceRun]) -> list[SourceRun]:
    merged: dict[tuple, SourceRun] = {}
    for run in runs:
        key = (run.startup_id, run.source, run.source_ref)
        if key not in merged:
            merged[key] = run
            continue
        m = merged[key]
        m.n_observations += run.n_observations
        m.n_rejected += run.n_rejected
        m.problems += run.problems
        m.fetched_at = m.fetched_at or run.fetched_at
        if run.status == "error":
            m.error = "; ".join(e for e in (m.error, run.error) if e)
        # ok wins over empty; an error on one request of a source that still gave figures stays visible in `error`.
        m.status = "ok" if "ok" in (m.status, run.status) else "error" if "error" in (m.status, run.status) else "empty"
    return list(merged.values())
