"""The table contract: every published table, its columns, DuckDB types and descriptions.

One source of truth for the DuckDB DDL, the `COMMENT ON` statements analysts see, the Dagster column
schemas shown in the UI and the CSV export columns. Changing it changes the analyst contract: say so in
the README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    required: bool = False
    # DuckDB storage compression for the column ("zstd" for long JSON/text documents), "" for DuckDB's choice.
    compression: str = ""

    def definition(self) -> str:
        using = f" USING COMPRESSION {self.compression}" if self.compression else ""
        return f'"{self.name}" {self.type}{using}'


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = ",\n  ".join(c.definition() for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'

    def comments(self) -> list[str]:
        def q(text: str) -> str:
            return "'" + text.replace("'", "''") + "'"

        out = [f'COMMENT ON TABLE "{self.name}" IS {q(self.description)}']
        out += [f'COMMENT ON COLUMN "{self.name}"."{c.name}" IS {q(c.description)}' for c in self.columns]
        return out


C = Column
# Long texts and JSON documents (one per service-year and criterion): DuckDB's default string compressions
# (dictionary, FSST) analyse and compress them slowly; zstd writes them about 3x faster and reads them faster.
LONG_TEXT = "zstd"

REGISTRY_RAW = Table(
    "registry_raw",
    "Every fetch of the startups registry: where from, when, checksum and the raw document as received.",
    (
        C(
            "fetched_at",
            "TIMESTAMP",
            "When the registry was fetched (UTC), also when it answered 304 Not Modified.",
            True,
        ),
        C("source_url", "VARCHAR", "URL or local path the registry was read from.", True),
        C("final_url", "VARCHAR", "URL after redirects.", True),
        C("sha256", "VARCHAR", "SHA-256 of the raw bytes (of the stored document for a 304).", True),
        C("n_bytes", "BIGINT", "Size of the raw document in bytes (of the stored document for a 304).", True),
        C("n_startups", "INTEGER", "Number of records in the document's `data` list.", True),
        C(
            "document",
            "VARCHAR",
            "The raw JSON document, verbatim; kept only on the latest fetch of each checksum.",
            True,
        ),
        C("etag", "VARCHAR", "ETag the server gave the document (sent as If-None-Match by the next fetch)."),
        C(
            "last_modified",
            "VARCHAR",
            "Last-Modified the server gave the document (sent as If-Modified-Since by the next fetch).",
        ),
        C(
            "not_modified",
            "BOOLEAN",
            "True when the server answered 304 Not Modified to a conditional request: the document is "
            "the one stored for this checksum, not downloaded again; false for a full download or a "
            "local file; NULL for "
            "fetches recorded before this column existed.",
        ),
        C(
            "observed_at",
            "TIMESTAMP",
            "When the document's content was observed: the fetch time of a live fetch, the date of "
            "its folder for a document of the registry history (IMPACT_REGISTRY_HISTORY); "
            "NULL for fetches recorded before "
            "this column existed (read as fetched_at).",
        ),
    ),
)

REGISTRY_DECLARATIONS = Table(
    "registry_declarations",
    "What each stored registry document declared per service (stats page, repository, contact, accessibility), one row "
    "per (document checksum, service): with registry_raw's observed_at, the dated registry facts of criterion (c).",
    (
        C("sha256", "VARCHAR", "Checksum of the registry document (registry_raw.sha256).", True),
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("stats_url", "VARCHAR", "Declared stats page URL in that document (NULL when not declared)."),
        C("repository", "VARCHAR", "Declared source repository URL in that document."),
        C("contact", "VARCHAR", "Declared contact in that document."),
        C("accessibility_status", "VARCHAR", "Declared accessibility status in that document."),
    ),
    key=("sha256", "startup_id"),
)

STARTUPS = Table(
    "startups",
    "One row per startup (service) of the beta.gouv.fr registry, as of the latest registry fetch.",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup (primary key).", True),
        C("name", "VARCHAR", "Name of the service as published.", True),
        C("pitch", "VARCHAR", "One-line mission of the service."),
        C("incubator_id", "VARCHAR", "Id of the incubator the startup belongs to."),
        C("current_phase", "VARCHAR", "Phase today, normalised to the 2026 vocabulary (phase at the fetch date)."),
        C("current_phase_published", "VARCHAR", "Phase today, as published in the registry."),
        C("link", "VARCHAR", "Product URL (empty when the service has none)."),
        C("stats_url", "VARCHAR", "Public statistics page, when declared."),
        C("impact_url", "VARCHAR", "Impact page URL, when declared."),
        C("budget_url", "VARCHAR", "Budget page URL, when declared."),
        C("repository", "VARCHAR", "Source code repository URL, when declared."),
        C("contact", "VARCHAR", "Contact address (empty when missing)."),
        C(
            "accessibility_status",
            "VARCHAR",
            "Declared accessibility: totalement / partiellement / non conforme, or NULL.",
        ),
        C("sponsors", "VARCHAR[]", "Sponsoring organisation ids."),
        C("thematiques", "VARCHAR[]", "Themes."),
        C("usertypes", "VARCHAR[]", "Target user types."),
        C("first_phase_start", "DATE", "Start of the earliest phase with a valid date."),
    ),
    key=("startup_id",),
)

STARTUP_PHASES = Table(
    "startup_phases",
    "One row per phase entry of a startup, with the published name and its 2026-vocabulary normalisation.",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("position", "INTEGER", "Position of the entry in the registry's list (0-based).", True),
        C("phase", "VARCHAR", "Phase name as published in the registry.", True),
        C("phase_normalized", "VARCHAR", "Phase in the 2026 vocabulary; NULL when the name is unknown."),
        C("start_date", "DATE", "Start date; NULL when missing or unparsable (see registry_findings)."),
        C("end_date", "DATE", "End date; NULL when open or unparsable."),
    ),
    key=("startup_id", "position"),
)

STARTUP_EVENTS = Table(
    "startup_events",
    "One row per event of a startup (committee, product_launch, national_impact…).",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("position", "INTEGER", "Position of the entry in the registry's list (0-based).", True),
        C("name", "VARCHAR", "Event name as published.", True),
        C("event_date", "DATE", "Event date; NULL when missing or unparsable."),
        C("comment", "VARCHAR", "Free-text comment."),
    ),
    key=("startup_id", "position"),
)

INCUBATORS = Table(
    "incubators",
    "One row per incubator listed in the registry document (`included`).",
    (
        C("incubator_id", "VARCHAR", "Incubator id.", True),
        C("title", "VARCHAR", "Incubator name."),
        C("owner", "VARCHAR", "Owning organisation."),
        C("website", "VARCHAR", "Website URL."),
        C("github", "VARCHAR", "GitHub organisation URL."),
        C("contact", "VARCHAR", "Contact address."),
    ),
    key=("incubator_id",),
)

REGISTRY_FINDINGS = Table(
    "registry_findings",
    "Data-quality findings of the registry ingest (unknown phase, unparsable date…): recorded, never fatal.",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup concerned (NULL for document-level findings)."),
        C("field", "VARCHAR", "Field concerned, e.g. phases[2].start.", True),
        C("value", "VARCHAR", "Offending value, verbatim."),
        C("problem", "VARCHAR", "What is wrong, in words.", True),
        C("severity", "VARCHAR", "warning or error.", True),
    ),
)

CRITERIA_EVALUATION = Table(
    "criteria_evaluation",
    "One row per (year, startup, criterion): the verdict of each criterion with its reason and evidence.",
    (
        C("year", "INTEGER", "Evaluated year.", True),
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("criterion", "VARCHAR", "a (national deployment), b (significant impact) or c (quality standards).", True),
        C("verdict", "VARCHAR", "pass, fail or unknown (unknown is never counted as pass).", True),
        C("reason", "VARCHAR", "Human-readable explanation of the verdict.", True, compression=LONG_TEXT),
        C("evidence", "JSON", "Values, sources and URLs the verdict rests on.", True, compression=LONG_TEXT),
        C("criteria_version", "VARCHAR", "Version of the criteria config used.", True),
    ),
    key=("year", "startup_id", "criterion"),
)

NATIONAL_IMPACT = Table(
    "national_impact",
    "One row per (year, startup) evaluated: the three criteria, the verdict and the official designation beside it.",
    (
        C("year", "INTEGER", "Evaluated year (state at the end of that year).", True),
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("name", "VARCHAR", "Name of the service.", True),
        C("phase_at_year_end", "VARCHAR", "Phase at the end of the year (2026 vocabulary), NULL when unknown."),
        C("criterion_a", "VARCHAR", "(a) national deployment: pass / fail / unknown.", True),
        C("criterion_b", "VARCHAR", "(b) significant impact: pass / fail / unknown.", True),
        C("criterion_c", "VARCHAR", "(c) quality standards: pass / fail / unknown.", True),
        C("meets_criteria", "BOOLEAN", "True exactly when the three criteria pass.", True),
        C(
            "officially_designated",
            "BOOLEAN",
            "True when the service was officially designated for this year or an earlier one.",
            True,
        ),
        C("designation_year", "INTEGER", "Year the service was officially designated for (NULL if never)."),
        C("reasons", "VARCHAR", "One sentence per criterion that is not a pass.", True, compression=LONG_TEXT),
        C("evidence", "JSON", "Evidence per criterion: values, sources, URLs.", True, compression=LONG_TEXT),
        C("criteria_version", "VARCHAR", "Version of the criteria config used.", True),
    ),
    key=("year", "startup_id"),
)

NATIONAL_IMPACT_SUMMARY = Table(
    "national_impact_summary",
    "One row per evaluated year: counts of services meeting the criteria and of official designations.",
    (
        C("year", "INTEGER", "Evaluated year.", True),
        C("n_evaluated", "INTEGER", "Services evaluated (with a known phase by the end of the year).", True),
        C("n_meeting_criteria", "INTEGER", "Services meeting all three criteria in the year (a stock).", True),
        C(
            "n_first_meeting",
            "INTEGER",
            "Services meeting all criteria this year and in no earlier evaluated year.",
            True,
        ),
        C("n_designated_in_year", "INTEGER", "Services officially designated for this year (a flow).", True),
        C("n_designated_cumulative", "INTEGER", "Services designated for this year or earlier.", True),
        C(
            "n_designated_not_meeting",
            "INTEGER",
            "Designated up to this year but not meeting the criteria this year.",
            True,
        ),
        C(
            "n_meeting_not_designated",
            "INTEGER",
            "Meeting the criteria this year but never designated up to this year.",
            True,
        ),
        C("criteria_version", "VARCHAR", "Version of the criteria config used.", True),
    ),
    key=("year",),
)

PUBLISH_LOG = Table(
    "publish_log",
    "One row per publication of this file: when, by which Dagster run, which years.",
    (
        C("published_at", "TIMESTAMP", "When the file was published (UTC).", True),
        C("run_id", "VARCHAR", "Dagster run id that published it.", True),
        C("years", "VARCHAR", "Years present in national_impact at publication.", True),
        C("criteria_version", "VARCHAR", "Criteria config version(s) present.", True),
    ),
)

USAGE_OBSERVATIONS = Table(
    "usage_observations",
    "Usage figures of each service as read from its sources (impact datasets, Matomo, Metabase, JSON files, "
    "declared figures), one row per indicator and period; targets and stocks are kept but flagged.",
    (
        C("startup_id", "VARCHAR", "Registry id of the service.", True),
        C("source", "VARCHAR", "Adapter: impact_dataset, matomo, metabase, json, declared.", True),
        C("source_ref", "VARCHAR", "Which source of that kind, human-readable (instance and site, file, card).", True),
        C("indicator", "VARCHAR", "Indicator as named by the source (e.g. nb_visits, Nombre d'utilisateurs).", True),
        C("type_indicateur", "VARCHAR", "usage or impact (impact dataset standard); usage for analytics sources."),
        C("value", "DOUBLE", "The figure (non-negative).", True),
        C("unit", "VARCHAR", "Normalised unit: users, visitors, visits, uses, count, percent or other.", True),
        C("period_start", "DATE", "First day the figure covers; NULL for a stock."),
        C("period_end", "DATE", "Last day the figure covers (the measurement date for a stock).", True),
        C("is_target", "BOOLEAN", "True for a target (est_cible): never used as a measure.", True),
        C("is_stock", "BOOLEAN", "True for a stock since launch (est_periode=false): never a yearly flow.", True),
        C("evidence_url", "VARCHAR", "Public page a person can open to check the figure (http(s)), or NULL."),
        C("fetched_at", "TIMESTAMP", "When the source was read (UTC).", True),
        C(
            "not_computed",
            "BOOLEAN",
            "True when the source reports 0 for a metric it did not compute (Matomo nb_users or "
            "nb_uniq_visitors = 0 beside visits > 0): kept for the record, never a measure.",
        ),
        C(
            "discovered_on",
            "VARCHAR",
            "Stats page a discovered (not reviewed) source was found on; NULL for a reviewed source.",
        ),
    ),
)

USAGE_SOURCE_STATUS = Table(
    "usage_source_status",
    "One row per usage source read for a service in the latest run: ok, empty or error, with rows kept and rejected.",
    (
        C("startup_id", "VARCHAR", "Registry id of the service (NULL for a discovered file matching no service)."),
        C("source", "VARCHAR", "Adapter: impact_dataset, matomo, metabase, json, declared.", True),
        C("source_ref", "VARCHAR", "Which source of that kind, human-readable.", True),
        C(
            "status",
            "VARCHAR",
            "ok (figures read), empty (answered without figures) or error (source down or unreadable).",
            True,
        ),
        C("error", "VARCHAR", "Why the source could not be read (no secrets), NULL when it could."),
        C("n_observations", "INTEGER", "Rows kept in usage_observations.", True),
        C("n_rejected", "INTEGER", "Malformed rows reported and left out.", True),
        C("problems", "VARCHAR", "The reported problems (first ones), NULL when none."),
        C("fetched_at", "TIMESTAMP", "When the source was read (UTC).", True),
        C(
            "discovered_on",
            "VARCHAR",
            "Stats page a discovered (not reviewed) source was found on; NULL for a reviewed source.",
        ),
    ),
)

YEARLY_REACH = Table(
    "yearly_reach",
    "The best yearly reach figure of each service and year, by the evidence ranking of criterion (b), with its source.",
    (
        C("startup_id", "VARCHAR", "Registry id of the service.", True),
        C("year", "INTEGER", "Calendar year the figure is attributed to.", True),
        C("value", "DOUBLE", "People or uses in the year.", True),
        C("unit", "VARCHAR", "Unit of the source figure (users, visitors, visits, uses).", True),
        C("kind", "VARCHAR", "What is counted: users (people), uses or visits.", True),
        C(
            "evidence_rank",
            "VARCHAR",
            "measured_users, measured_uses, monthly_uniques_upper_bound or declared (best first).",
            True,
        ),
        C("source", "VARCHAR", "Adapter the figure comes from (or observatoire).", True),
        C("source_ref", "VARCHAR", "Which source of that kind, human-readable.", True),
        C("evidence_url", "VARCHAR", "Public page a person can open to check the figure, or NULL."),
        C("upper_bound", "BOOLEAN", "True when the figure over-counts (sum of monthly unique visitors).", True),
        C("n_candidates", "INTEGER", "Figures available for this service and year, all ranks.", True),
        C("note", "VARCHAR", "How the figure was derived (period attribution, sums)."),
        C("period_start", "DATE", "First day the figure covers."),
        C("period_end", "DATE", "Last day the figure covers."),
        C("lower_bound", "BOOLEAN", "True when the periods summed do not cover the whole year: at least this many."),
        C("coverage", "VARCHAR", "What a lower bound covers, e.g. 'May–December'; NULL when the year is covered."),
        C("last_uncovered_day", "DATE", "Last day of the year no period covers (a lower bound); NULL when covered."),
        C(
            "top_figure",
            "VARCHAR",
            "JSON of the top-ranked figure when it has no public evidence URL and this public "
            "figure, ranked lower, decides instead; NULL otherwise.",
        ),
        C(
            "discovered_on",
            "VARCHAR",
            "Stats page of a discovered (not reviewed) source, ranked below every reviewed one; NULL when reviewed.",
        ),
    ),
    key=("startup_id", "year"),
)

USAGE_SOURCE_PROPOSALS = Table(
    "usage_source_proposals",
    "Usage sources recognised from services' stats URLs and pages (Matomo sites, Metabase public cards and dashboard "
    "cards, impact dataset files), each with a trial read: in use as a discovered source, a proposal for review, or "
    "already reviewed. Rejected proposals are not listed.",
    (
        C(
            "proposal_id",
            "VARCHAR",
            "Stable short id of the proposal (`impact-pipeline sources accept|reject <id>`).",
            True,
        ),
        C("startup_id", "VARCHAR", "Registry id of the service.", True),
        C("stats_url", "VARCHAR", "The stats URL or page the source was found on.", True),
        C(
            "kind",
            "VARCHAR",
            "matomo, metabase_question, metabase_dashboard, metabase_dashboard_card or impact_csv.",
            True,
        ),
        C("instance", "VARCHAR", "Base URL of the Metabase or Matomo instance (the file URL for impact_csv).", True),
        C(
            "identifier",
            "VARCHAR",
            "Public card/dashboard uuid, `<dashboard uuid>/<dashcard id>/<card id>`, Matomo site id, or file id.",
            True,
        ),
        C("name", "VARCHAR", "Title of the card, when the source names it."),
        C("found_at", "TIMESTAMP", "When the page was read (UTC).", True),
        C("confirmed", "BOOLEAN", "True when the reviewed sources file already has this source for the service.", True),
        C(
            "status",
            "VARCHAR",
            "in_use (an unambiguous discovered source, read for (b)), proposed (waiting for review) or reviewed "
            "(in the sources file).",
            True,
        ),
        C(
            "preview",
            "VARCHAR",
            "What the trial read yields per year (value, unit, period), NULL when it yields nothing.",
        ),
        C("reason", "VARCHAR", "Why a proposal is not in use: ambiguous (and how), or why it cannot be read."),
        C("date_column", "VARCHAR", "Metabase: the date-like column recognised (or the only one)."),
        C("value_column", "VARCHAR", "Metabase: the numeric column recognised; Matomo: nb_visits."),
        C("unit", "VARCHAR", "Unit the value column's name says it counts (users, visitors, visits, uses)."),
        C("period", "VARCHAR", "Period of each row: year, quarter, month, week or day."),
        C(
            "data_url",
            "VARCHAR",
            "Where the trial read fetched the data (Metabase, impact file) or the Matomo dashboard.",
        ),
    ),
    key=("startup_id", "kind", "instance", "identifier"),
)

# --- quality (criterion c) -------------------------------------------------------------------

OBSERVATOIRE_PROCEDURES = Table(
    "observatoire_procedures",
    "Observatoire « Vos démarches essentielles »: one row per (edition, démarche, indicator), as published.",
    (
        C("edition_id", "VARCHAR", "Observatoire edition id.", True),
        C("edition", "VARCHAR", "Edition name.", True),
        C("year", "INTEGER", "Year the edition counts for: year of its end_date, else a year in its name."),
        C("edition_end", "VARCHAR", "Edition end date as published."),
        C("procedure_id", "VARCHAR", "Observatoire démarche id.", True),
        C("title", "VARCHAR", "Démarche title."),
        C("administration", "VARCHAR", "Administration in charge of the démarche."),
        C("url", "VARCHAR", "Démarche URL (value of the `online` indicator), http(s) only."),
        C("host", "VARCHAR", "Normalised host of the URL (lower case, no scheme, no www.), used to join services."),
        C("volume", "BIGINT", "Yearly volume of online procedures, NULL when unknown."),
        C(
            "indicator",
            "VARCHAR",
            "Indicator slug (online, satisfaction, handicap, dlnuf, auth, simplicity, help_reachable…).",
            True,
        ),
        C("value", "VARCHAR", "Raw value as published (number, text or placeholder)."),
        C("label", "VARCHAR", "Level label as published (e.g. '8 / 10', 'Oui', 'À venir')."),
        C(
            "value_numeric",
            "DOUBLE",
            "Value read as a number (score /10, percentage 0–100, ms); NULL for text and placeholders.",
        ),
        C("color", "VARCHAR", "Level colour as published (green, yellow, orange, red, blue, gray)."),
        C(
            "goal_reached",
            "BOOLEAN",
            "The API's goalReached, else read from the colour; NULL for placeholders (never a failure).",
        ),
        C(
            "placeholder",
            "BOOLEAN",
            "True when the value is a text placeholder ('À venir', 'Non applicable', 'Nombre d''avis insuffisant').",
        ),
        C("fetched_at", "TIMESTAMP", "When the edition's démarches were fetched (UTC)."),
        C("source_url", "VARCHAR", "API URL the rows were read from."),
    ),
    key=("edition_id", "procedure_id", "indicator"),
)

STARTUP_OBSERVATOIRE = Table(
    "startup_observatoire",
    "Per service and year: the observatoire's headline goals, help reachability and online volume of its démarches.",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("year", "INTEGER", "Year of the edition (its end_date's year).", True),
        C("edition", "VARCHAR", "The latest edition of the year listing the service's démarches.", True),
        C("edition_id", "VARCHAR", "Its id.", True),
        C("procedure_ids", "VARCHAR[]", "Observatoire démarches joined to the service.", True),
        C("procedure_titles", "VARCHAR[]", "Their titles."),
        C("n_procedures", "INTEGER", "Number of démarches joined.", True),
        C(
            "matched_by",
            "VARCHAR[]",
            "How they were joined: 'link host' or 'override' (config/observatoire_hosts.yaml).",
        ),
        C(
            "online_volume",
            "BIGINT",
            "Sum of the yearly online volumes of the démarches joined to this service alone; "
            "NULL when none is known (or every one is shared with another service: see volume_note).",
        ),
        C("n_procedures_with_volume", "INTEGER", "Démarches whose volume is known and counted."),
        C(
            "goals_reached",
            "INTEGER",
            "Headline goals (satisfaction, handicap, dlnuf, auth, simplicity) reached.",
            True,
        ),
        C("goals_total", "INTEGER", "Headline goals with a known value (placeholders excluded).", True),
        C(
            "satisfaction_goal",
            "BOOLEAN",
            "Satisfaction ≥ 8/10 reached by every démarche with a value; NULL when unknown.",
        ),
        C("handicap_goal", "BOOLEAN", "RGAA accessibility goal reached; NULL when unknown."),
        C("dlnuf_goal", "BOOLEAN", "« Dites-le nous une fois » goal reached; NULL when unknown."),
        C("auth_goal", "BOOLEAN", "FranceConnect / FranceConnect+ offered; NULL when unknown or not applicable."),
        C("simplicity_goal", "BOOLEAN", "Clarity of language ≥ 8/10 reached; NULL when unknown."),
        C("help_reachable", "DOUBLE", "Lowest help reachability (%) among the démarches; NULL when unknown."),
        C("evidence_url", "VARCHAR", "Observatoire API URL of the edition the figures come from."),
        C(
            "volume_note",
            "VARCHAR",
            "Why known volumes are not counted (a démarche host shared by several services: "
            "not attributable to one); NULL when none is left out.",
        ),
    ),
    key=("startup_id", "year"),
)

REPOSITORY_ACTIVITY = Table(
    "repository_activity",
    "Per service and year: activity of its declared repository on GitHub or GitLab (commits, last push, archived).",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("year", "INTEGER", "Year the commits are counted in.", True),
        C("forge", "VARCHAR", "github, gitlab or other (not a supported forge).", True),
        C("repo", "VARCHAR", "host/owner/repository.", True),
        C("repo_url", "VARCHAR", "Repository URL as declared in the registry.", True),
        C("commits_in_year", "INTEGER", "Commits dated in the year on the default branch; NULL when unknown."),
        C(
            "commits_is_lower_bound",
            "BOOLEAN",
            "True when the forge gave no total (GitLab beyond 10,000): at least this many.",
        ),
        C("last_push", "TIMESTAMP", "Last push (GitHub pushed_at, GitLab last_activity_at), UTC, at fetch time."),
        C("archived", "BOOLEAN", "Archived (read-only) at fetch time."),
        C("public", "BOOLEAN", "Publicly visible at fetch time."),
        C("created_at", "TIMESTAMP", "Repository creation time."),
        C("status", "VARCHAR", "ok, not_modified, rate_limited, error, not_found, unsupported or disabled.", True),
        C("reason", "VARCHAR", "Why the figures are missing or partial, in words."),
        C("fetched_at", "TIMESTAMP", "When the forge was asked (UTC).", True),
        C("api_url", "VARCHAR", "Forge API URL of the repository (no token)."),
        C(
            "scope",
            "VARCHAR",
            "repository, or owner: an organisation, user or group address, read over its public "
            "repositories (a weak signal: the owner may host other products).",
        ),
    ),
    key=("startup_id", "year"),
)

STATS_PAGE_CHECKS = Table(
    "stats_page_checks",
    "Every check of a declared stats page or repository URL: did it answer, with what status, where did it end.",
    (
        C("startup_id", "VARCHAR", "Registry id of the startup.", True),
        C("kind", "VARCHAR", "What was checked: stats_url or repository.", True),
        C("url", "VARCHAR", "URL as declared (stripped).", True),
        C(
            "status_code",
            "INTEGER",
            "HTTP status of the final answer (304 = unchanged since a 2xx); NULL on network errors.",
        ),
        C("ok", "BOOLEAN", "True when the URL answered with a success status after redirects.", True),
        C("final_url", "VARCHAR", "URL after redirects."),
        C("checked_at", "TIMESTAMP", "When it was checked (UTC); such a check is evidence for that year only.", True),
        C("error", "VARCHAR", "Why it failed (timeout, HTTP 404, not an http(s) URL…)."),
        C("source", "VARCHAR", "live (fetched) or recorded (offline sample answers)."),
    ),
    key=("startup_id", "kind", "checked_at"),
)

WEB_ARCHIVE_CAPTURES = Table(
    "web_archive_captures",
    "Captures of declared stats pages and repositories in a Wayback-compatible web archive (CDX API): what the URL "
    "answered and when. A 2xx capture is evidence that the page was online on that day.",
    (
        C("url", "VARCHAR", "URL as declared in the registry (stripped), the one asked to the archive.", True),
        C("captured_at", "TIMESTAMP", "When the archive captured it (UTC, from the CDX timestamp).", True),
        C("status_code", "INTEGER", "HTTP status the URL answered the archive's crawler; NULL when the CDX gives '-'."),
        C("original", "VARCHAR", "URL the archive captured (as the CDX gives it)."),
        C(
            "capture_url",
            "VARCHAR",
            "Public link to the capture (https://web.archive.org/web/<timestamp>/<url>).",
            True,
        ),
        C("asked_at", "TIMESTAMP", "When the archive was asked (UTC).", True),
    ),
    key=("url", "captured_at"),
)

WEB_ARCHIVE_QUERIES = Table(
    "web_archive_queries",
    "Every CDX query sent to the web archive: which URL, which years, when, and how it went. The cache that keeps "
    "later runs from asking again about years that can no longer change.",
    (
        C("url", "VARCHAR", "URL asked about.", True),
        C("from_year", "INTEGER", "First year asked (CDX `from`).", True),
        C("to_year", "INTEGER", "Last year asked (CDX `to`).", True),
        C("asked_at", "TIMESTAMP", "When it was asked (UTC).", True),
        C("ok", "BOOLEAN", "True when the archive answered with a CDX result (possibly empty).", True),
        C("n_captures", "INTEGER", "Captures in the answer."),
        C("error", "VARCHAR", "Why it failed (429 after retries, 503, timeout…)."),
    ),
    key=("url", "asked_at"),
)

ALL_TABLES: tuple[Table, ...] = (
    REGISTRY_RAW,
    REGISTRY_DECLARATIONS,
    STARTUPS,
    STARTUP_PHASES,
    STARTUP_EVENTS,
    INCUBATORS,
    REGISTRY_FINDINGS,
    CRITERIA_EVALUATION,
    NATIONAL_IMPACT,
    NATIONAL_IMPACT_SUMMARY,
    PUBLISH_LOG,
    USAGE_OBSERVATIONS,
    USAGE_SOURCE_STATUS,
    YEARLY_REACH,
    USAGE_SOURCE_PROPOSALS,
    OBSERVATOIRE_PROCEDURES,
    STARTUP_OBSERVATOIRE,
    REPOSITORY_ACTIVITY,
    STATS_PAGE_CHECKS,
    WEB_ARCHIVE_CAPTURES,
    WEB_ARCHIVE_QUERIES,
)


def table_schema(table: Table):
    """Dagster column schema for the UI (imported lazily so this module stays dependency-free)."""
    import dagster as dg

    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=not c.required, unique=(table.key == (c.name,))),
            )
            for c in table.columns
        ]
    )
