"""The table contract: every published table, its columns, DuckDB types and descriptions.

One source of truth for the DuckDB DDL, the `COMMENT ON` statements analysts see, the Dagster column
schemas shown in the UI and the CSV export columns. Changing it changes the analyst contract: say so in
the README.
"""

from __future__ import annotations

import textwrap
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
        return comment_statements("TABLE", self.name, self.description, self.columns)


def comment_statements(kind: str, name: str, description: str, columns: tuple[Column, ...]) -> list[str]:
    """`COMMENT ON` a table or view (`kind`) and on each of its columns: what analysts read in DuckDB."""

    def q(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    out = [f'COMMENT ON {kind} "{name}" IS {q(description)}']
    out += [f'COMMENT ON COLUMN "{name}"."{c.name}" IS {q(c.description)}' for c in columns]
    return out


def table(name: str, text: str, key: tuple[str, ...] = ()) -> Table:
    """A table written as text: its description, a blank line, then its columns (`columns`)."""
    description, _, rows = textwrap.dedent(text).strip("\n").partition("\n\n")
    return Table(name, " ".join(description.split("\n")), columns(rows), key)


def columns(text: str) -> tuple[Column, ...]:
    """Columns written as a text table, one a line: name, DuckDB type (`!` when required), `zstd` for a long text
    or JSON document, then the description; a line indented further continues the description.

    zstd: DuckDB's default string compressions (dictionary, FSST) analyse and compress long documents (one per
    service-year and criterion) slowly; zstd writes them about 3x faster and reads them faster.
    """
    rows: list[list[str]] = []
    for line in textwrap.dedent(text).strip("\n").splitlines():
        if line.startswith(" "):
            rows[-1][-1] += " " + line.strip()
            continue
        name, type_, description = line.split(None, 2)
        compression = ""
        if description.startswith("zstd "):
            compression, description = "zstd", description[len("zstd ") :].lstrip()
        rows.append([name, type_, compression, description])
    return tuple(Column(n, t.rstrip("!"), d, t.endswith("!"), compression=z) for n, t, z, d in rows)


REGISTRY_RAW = table(
    "registry_raw",
    """
    Every fetch of the startups registry: where from, when, checksum and the raw document as received.

    fetched_at     TIMESTAMP!  When the registry was fetched (UTC), also when it answered 304 Not Modified.
    source_url     VARCHAR!    URL or local path the registry was read from.
    final_url      VARCHAR!    URL after redirects.
    sha256         VARCHAR!    SHA-256 of the raw bytes (of the stored document for a 304).
    n_bytes        BIGINT!     Size of the raw document in bytes (of the stored document for a 304).
    n_startups     INTEGER!    Number of records in the document's `data` list.
    document       VARCHAR!    The raw JSON document, verbatim; kept only on the latest fetch of each checksum.
    etag           VARCHAR     ETag the server gave the document (sent as If-None-Match by the next fetch).
    last_modified  VARCHAR     Last-Modified the server gave the document (sent as If-Modified-Since by the next fetch).
    not_modified   BOOLEAN     True when the server answered 304 Not Modified to a conditional request: the document is
                               the one stored for this checksum, not downloaded again; false for a full download or a
                               local file; NULL for fetches recorded before this column existed.
    observed_at    TIMESTAMP   When the document's content was observed: the fetch time of a live fetch, the date of its
                               folder for a document of the registry history (IMPACT_REGISTRY_HISTORY); NULL for fetches
                               recorded before this column existed (read as fetched_at).
    """,
)

REGISTRY_DECLARATIONS = table(
    "registry_declarations",
    """
    What each stored registry document declared per service (stats page, repository, contact, accessibility), one
    row per (document checksum, service): with registry_raw's observed_at, the dated registry facts of criterion
    (c).

    sha256                VARCHAR!  Checksum of the registry document (registry_raw.sha256).
    startup_id            VARCHAR!  Registry id of the startup.
    stats_url             VARCHAR   Declared stats page URL in that document (NULL when not declared).
    repository            VARCHAR   Declared source repository URL in that document.
    contact               VARCHAR   Declared contact in that document.
    accessibility_status  VARCHAR   Declared accessibility status in that document.
    """,
    key=("sha256", "startup_id"),
)

STARTUPS = table(
    "startups",
    """
    One row per startup (service) of the beta.gouv.fr registry, as of the latest registry fetch.

    startup_id               VARCHAR!   Registry id of the startup (primary key).
    name                     VARCHAR!   Name of the service as published.
    pitch                    VARCHAR    One-line mission of the service.
    incubator_id             VARCHAR    Id of the incubator the startup belongs to.
    current_phase            VARCHAR    Phase today, normalised to the 2026 vocabulary (phase at the fetch date).
    current_phase_published  VARCHAR    Phase today, as published in the registry.
    link                     VARCHAR    Product URL (empty when the service has none).
    stats_url                VARCHAR    Public statistics page, when declared.
    impact_url               VARCHAR    Impact page URL, when declared.
    budget_url               VARCHAR    Budget page URL, when declared.
    repository               VARCHAR    Source code repository URL, when declared.
    contact                  VARCHAR    Contact address (empty when missing).
    accessibility_status     VARCHAR    Declared accessibility: totalement / partiellement / non conforme, or NULL.
    sponsors                 VARCHAR[]  Sponsoring organisation ids.
    thematiques              VARCHAR[]  Themes.
    usertypes                VARCHAR[]  Target user types.
    first_phase_start        DATE       Start of the earliest phase with a valid date.
    """,
    key=("startup_id",),
)

STARTUP_PHASES = table(
    "startup_phases",
    """
    One row per phase entry of a startup, with the published name and its 2026-vocabulary normalisation.

    startup_id        VARCHAR!  Registry id of the startup.
    position          INTEGER!  Position of the entry in the registry's list (0-based).
    phase             VARCHAR!  Phase name as published in the registry.
    phase_normalized  VARCHAR   Phase in the 2026 vocabulary; NULL when the name is unknown.
    start_date        DATE      Start date; NULL when missing or unparsable (see registry_findings).
    end_date          DATE      End date; NULL when open or unparsable.
    """,
    key=("startup_id", "position"),
)

STARTUP_EVENTS = table(
    "startup_events",
    """
    One row per event of a startup (committee, product_launch, national_impact…).

    startup_id  VARCHAR!  Registry id of the startup.
    position    INTEGER!  Position of the entry in the registry's list (0-based).
    name        VARCHAR!  Event name as published.
    event_date  DATE      Event date; NULL when missing or unparsable.
    comment     VARCHAR   Free-text comment.
    """,
    key=("startup_id", "position"),
)

INCUBATORS = table(
    "incubators",
    """
    One row per incubator listed in the registry document (`included`).

    incubator_id  VARCHAR!  Incubator id.
    title         VARCHAR   Incubator name.
    owner         VARCHAR   Owning organisation.
    website       VARCHAR   Website URL.
    github        VARCHAR   GitHub organisation URL.
    contact       VARCHAR   Contact address.
    """,
    key=("incubator_id",),
)

REGISTRY_FINDINGS = table(
    "registry_findings",
    """
    Data-quality findings of the registry ingest (unknown phase, unparsable date…): recorded, never fatal.

    startup_id  VARCHAR   Registry id of the startup concerned (NULL for document-level findings).
    field       VARCHAR!  Field concerned, e.g. phases[2].start.
    value       VARCHAR   Offending value, verbatim.
    problem     VARCHAR!  What is wrong, in words.
    severity    VARCHAR!  warning or error.
    """,
)

CRITERIA_EVALUATION = table(
    "criteria_evaluation",
    """
    One row per (year, startup, criterion): the verdict of each criterion with its reason and evidence.

    year              INTEGER!       Evaluated year.
    startup_id        VARCHAR!       Registry id of the startup.
    criterion         VARCHAR!       a (national deployment), b (significant impact) or c (quality standards).
    verdict           VARCHAR!       pass, fail or unknown (unknown is never counted as pass).
    reason            VARCHAR! zstd  Human-readable explanation of the verdict.
    evidence          JSON! zstd     Values, sources and URLs the verdict rests on.
    criteria_version  VARCHAR!       Version of the criteria config used.
    """,
    key=("year", "startup_id", "criterion"),
)

NATIONAL_IMPACT = table(
    "national_impact",
    """
    One row per (year, startup) evaluated: the three criteria, the verdict and the official designation beside it.

    year                   INTEGER!       Evaluated year (state at the end of that year).
    startup_id             VARCHAR!       Registry id of the startup.
    name                   VARCHAR!       Name of the service.
    phase_at_year_end      VARCHAR        Phase at the end of the year (2026 vocabulary), NULL when unknown.
    criterion_a            VARCHAR!       (a) national deployment: pass / fail / unknown.
    criterion_b            VARCHAR!       (b) significant impact: pass / fail / unknown.
    criterion_c            VARCHAR!       (c) quality standards: pass / fail / unknown.
    meets_criteria         BOOLEAN!       True exactly when the three criteria pass.
    officially_designated  BOOLEAN!       True when the service was officially designated for this year or an earlier
                                          one.
    designation_year       INTEGER        Year the service was officially designated for (NULL if never).
    reasons                VARCHAR! zstd  One sentence per criterion that is not a pass.
    evidence               JSON! zstd     Evidence per criterion: values, sources, URLs.
    criteria_version       VARCHAR!       Version of the criteria config used.
    """,
    key=("year", "startup_id"),
)

NATIONAL_IMPACT_SUMMARY = table(
    "national_impact_summary",
    """
    One row per evaluated year: counts of services meeting the criteria and of official designations.

    year                      INTEGER!  Evaluated year.
    n_evaluated               INTEGER!  Services evaluated (with a known phase by the end of the year).
    n_meeting_criteria        INTEGER!  Services meeting all three criteria in the year (a stock).
    n_first_meeting           INTEGER!  Services meeting all criteria this year and in no earlier evaluated year.
    n_designated_in_year      INTEGER!  Services officially designated for this year (a flow).
    n_designated_cumulative   INTEGER!  Services designated for this year or earlier.
    n_designated_not_meeting  INTEGER!  Designated up to this year but not meeting the criteria this year.
    n_meeting_not_designated  INTEGER!  Meeting the criteria this year but never designated up to this year.
    criteria_version          VARCHAR!  Version of the criteria config used.
    """,
    key=("year",),
)

PUBLISH_LOG = table(
    "publish_log",
    """
    One row per publication of this file: when, by which Dagster run, which years.

    published_at      TIMESTAMP!  When the file was published (UTC).
    run_id            VARCHAR!    Dagster run id that published it.
    years             VARCHAR!    Years present in national_impact at publication.
    criteria_version  VARCHAR!    Criteria config version(s) present.
    """,
)

USAGE_OBSERVATIONS = table(
    "usage_observations",
    """
    Usage figures of each service as read from its sources (impact datasets, Matomo, Metabase, JSON files, declared
    figures), one row per indicator and period; targets and stocks are kept but flagged.

    startup_id       VARCHAR!    Registry id of the service.
    source           VARCHAR!    Adapter: impact_dataset, matomo, metabase, json, declared.
    source_ref       VARCHAR!    Which source of that kind, human-readable (instance and site, file, card).
    indicator        VARCHAR!    Indicator as named by the source (e.g. nb_visits, Nombre d'utilisateurs).
    type_indicateur  VARCHAR     usage or impact (impact dataset standard); usage for analytics sources.
    value            DOUBLE!     The figure (non-negative).
    unit             VARCHAR!    Normalised unit: users, visitors, visits, uses, count, percent or other.
    period_start     DATE        First day the figure covers; NULL for a stock.
    period_end       DATE!       Last day the figure covers (the measurement date for a stock).
    is_target        BOOLEAN!    True for a target (est_cible): never used as a measure.
    is_stock         BOOLEAN!    True for a stock since launch (est_periode=false): never a yearly flow.
    evidence_url     VARCHAR     Public page a person can open to check the figure (http(s)), or NULL.
    fetched_at       TIMESTAMP!  When the source was read (UTC).
    not_computed     BOOLEAN     True when the source reports 0 for a metric it did not compute (Matomo nb_users or
                                 nb_uniq_visitors = 0 beside visits > 0): kept for the record, never a measure.
    discovered_on    VARCHAR     Stats page a discovered (not reviewed) source was found on; NULL for a reviewed source.
    """,
)

USAGE_SOURCE_STATUS = table(
    "usage_source_status",
    """
    One row per usage source read for a service in the latest run: ok, empty or error, with rows kept and rejected.

    startup_id      VARCHAR     Registry id of the service (NULL for a discovered file matching no service).
    source          VARCHAR!    Adapter: impact_dataset, matomo, metabase, json, declared.
    source_ref      VARCHAR!    Which source of that kind, human-readable.
    status          VARCHAR!    ok (figures read), empty (answered without figures) or error (source down or
                                unreadable).
    error           VARCHAR     Why the source could not be read (no secrets), NULL when it could.
    n_observations  INTEGER!    Rows kept in usage_observations.
    n_rejected      INTEGER!    Malformed rows reported and left out.
    problems        VARCHAR     The reported problems (first ones), NULL when none.
    fetched_at      TIMESTAMP!  When the source was read (UTC).
    discovered_on   VARCHAR     Stats page a discovered (not reviewed) source was found on; NULL for a reviewed source.
    """,
)

YEARLY_REACH = table(
    "yearly_reach",
    """
    The best yearly reach figure of each service and year, by the evidence ranking of criterion (b), with its
    source.

    startup_id          VARCHAR!  Registry id of the service.
    year                INTEGER!  Calendar year the figure is attributed to.
    value               DOUBLE!   People or uses in the year.
    unit                VARCHAR!  Unit of the source figure (users, visitors, visits, uses).
    kind                VARCHAR!  What is counted: users (people), uses or visits.
    evidence_rank       VARCHAR!  measured_users, measured_uses, monthly_uniques_upper_bound or declared (best first).
    source              VARCHAR!  Adapter the figure comes from (or observatoire).
    source_ref          VARCHAR!  Which source of that kind, human-readable.
    evidence_url        VARCHAR   Public page a person can open to check the figure, or NULL.
    upper_bound         BOOLEAN!  True when the figure over-counts (sum of monthly unique visitors).
    n_candidates        INTEGER!  Figures available for this service and year, all ranks.
    note                VARCHAR   How the figure was derived (period attribution, sums).
    period_start        DATE      First day the figure covers.
    period_end          DATE      Last day the figure covers.
    lower_bound         BOOLEAN   True when the periods summed do not cover the whole year: at least this many.
    coverage            VARCHAR   What a lower bound covers, e.g. 'May–December'; NULL when the year is covered.
    last_uncovered_day  DATE      Last day of the year no period covers (a lower bound); NULL when covered.
    top_figure          VARCHAR   JSON of the top-ranked figure when it has no public evidence URL and this public
                                  figure, ranked lower, decides instead; NULL otherwise.
    discovered_on       VARCHAR   Stats page of a discovered (not reviewed) source, ranked below every reviewed one;
                                  NULL when reviewed.
    """,
    key=("startup_id", "year"),
)

USAGE_SOURCE_PROPOSALS = table(
    "usage_source_proposals",
    """
    Usage sources recognised from services' stats URLs and pages (Matomo sites, Metabase public cards and dashboard
    cards, impact dataset files), each with a trial read: in use as a discovered source, a proposal for review, or
    already reviewed. Rejected proposals are not listed.

    proposal_id   VARCHAR!    Stable short id of the proposal (`impact-pipeline sources accept|reject <id>`).
    startup_id    VARCHAR!    Registry id of the service.
    stats_url     VARCHAR!    The stats URL or page the source was found on.
    kind          VARCHAR!    matomo, metabase_question, metabase_dashboard, metabase_dashboard_card or impact_csv.
    instance      VARCHAR!    Base URL of the Metabase or Matomo instance (the file URL for impact_csv).
    identifier    VARCHAR!    Public card/dashboard uuid, `<dashboard uuid>/<dashcard id>/<card id>`, Matomo site id, or
                              file id.
    name          VARCHAR     Title of the card, when the source names it.
    found_at      TIMESTAMP!  When the page was read (UTC).
    confirmed     BOOLEAN!    True when the reviewed sources file already has this source for the service.
    status        VARCHAR!    in_use (an unambiguous discovered source, read for (b)), proposed (waiting for review) or
                              reviewed (in the sources file).
    preview       VARCHAR     What the trial read yields per year (value, unit, period), NULL when it yields nothing.
    reason        VARCHAR     Why a proposal is not in use: ambiguous (and how), or why it cannot be read.
    date_column   VARCHAR     Metabase: the date-like column recognised (or the only one).
    value_column  VARCHAR     Metabase: the numeric column recognised; Matomo: nb_visits.
    unit          VARCHAR     Unit the value column's name says it counts (users, visitors, visits, uses).
    period        VARCHAR     Period of each row: year, quarter, month, week or day.
    data_url      VARCHAR     Where the trial read fetched the data (Metabase, impact file) or the Matomo dashboard.
    """,
    key=("startup_id", "kind", "instance", "identifier"),
)

# --- quality (criterion c) -------------------------------------------------------------------

OBSERVATOIRE_PROCEDURES = table(
    "observatoire_procedures",
    """
    Observatoire « Vos démarches essentielles »: one row per (edition, démarche, indicator), as published.

    edition_id      VARCHAR!   Observatoire edition id.
    edition         VARCHAR!   Edition name.
    year            INTEGER    Year the edition counts for: year of its end_date, else a year in its name.
    edition_end     VARCHAR    Edition end date as published.
    procedure_id    VARCHAR!   Observatoire démarche id.
    title           VARCHAR    Démarche title.
    administration  VARCHAR    Administration in charge of the démarche.
    url             VARCHAR    Démarche URL (value of the `online` indicator), http(s) only.
    host            VARCHAR    Normalised host of the URL (lower case, no scheme, no www.), used to join services.
    volume          BIGINT     Yearly volume of online procedures, NULL when unknown.
    indicator       VARCHAR!   Indicator slug (online, satisfaction, handicap, dlnuf, auth, simplicity,
                               help_reachable…).
    value           VARCHAR    Raw value as published (number, text or placeholder).
    label           VARCHAR    Level label as published (e.g. '8 / 10', 'Oui', 'À venir').
    value_numeric   DOUBLE     Value read as a number (score /10, percentage 0–100, ms); NULL for text and placeholders.
    color           VARCHAR    Level colour as published (green, yellow, orange, red, blue, gray).
    goal_reached    BOOLEAN    The API's goalReached, else read from the colour; NULL for placeholders (never a
                               failure).
    placeholder     BOOLEAN    True when the value is a text placeholder ('À venir', 'Non applicable', 'Nombre d''avis
                               insuffisant').
    fetched_at      TIMESTAMP  When the edition's démarches were fetched (UTC).
    source_url      VARCHAR    API URL the rows were read from.
    """,
    key=("edition_id", "procedure_id", "indicator"),
)

STARTUP_OBSERVATOIRE = table(
    "startup_observatoire",
    """
    Per service and year: the observatoire's headline goals, help reachability and online volume of its démarches.

    startup_id                VARCHAR!    Registry id of the startup.
    year                      INTEGER!    Year of the edition (its end_date's year).
    edition                   VARCHAR!    The latest edition of the year listing the service's démarches.
    edition_id                VARCHAR!    Its id.
    procedure_ids             VARCHAR[]!  Observatoire démarches joined to the service.
    procedure_titles          VARCHAR[]   Their titles.
    n_procedures              INTEGER!    Number of démarches joined.
    matched_by                VARCHAR[]   How they were joined: 'link host' or 'override'
                                          (config/observatoire_hosts.yaml).
    online_volume             BIGINT      Sum of the yearly online volumes of the démarches joined to this service
                                          alone; NULL when none is known (or every one is shared with another service:
                                          see volume_note).
    n_procedures_with_volume  INTEGER     Démarches whose volume is known and counted.
    goals_reached             INTEGER!    Headline goals (satisfaction, handicap, dlnuf, auth, simplicity) reached.
    goals_total               INTEGER!    Headline goals with a known value (placeholders excluded).
    satisfaction_goal         BOOLEAN     Satisfaction ≥ 8/10 reached by every démarche with a value; NULL when unknown.
    handicap_goal             BOOLEAN     RGAA accessibility goal reached; NULL when unknown.
    dlnuf_goal                BOOLEAN     « Dites-le nous une fois » goal reached; NULL when unknown.
    auth_goal                 BOOLEAN     FranceConnect / FranceConnect+ offered; NULL when unknown or not applicable.
    simplicity_goal           BOOLEAN     Clarity of language ≥ 8/10 reached; NULL when unknown.
    help_reachable            DOUBLE      Lowest help reachability (%) among the démarches; NULL when unknown.
    evidence_url              VARCHAR     Observatoire API URL of the edition the figures come from.
    volume_note               VARCHAR     Why known volumes are not counted (a démarche host shared by several services:
                                          not attributable to one); NULL when none is left out.
    """,
    key=("startup_id", "year"),
)

REPOSITORY_ACTIVITY = table(
    "repository_activity",
    """
    Per service and year: activity of its declared repository on GitHub or GitLab (commits, last push, archived).

    startup_id              VARCHAR!    Registry id of the startup.
    year                    INTEGER!    Year the commits are counted in.
    forge                   VARCHAR!    github, gitlab or other (not a supported forge).
    repo                    VARCHAR!    host/owner/repository.
    repo_url                VARCHAR!    Repository URL as declared in the registry.
    commits_in_year         INTEGER     Commits dated in the year on the default branch; NULL when unknown.
    commits_is_lower_bound  BOOLEAN     True when the forge gave no total (GitLab beyond 10,000): at least this many.
    last_push               TIMESTAMP   Last push (GitHub pushed_at, GitLab last_activity_at), UTC, at fetch time.
    archived                BOOLEAN     Archived (read-only) at fetch time.
    public                  BOOLEAN     Publicly visible at fetch time.
    created_at              TIMESTAMP   Repository creation time.
    status                  VARCHAR!    ok, not_modified, rate_limited, error, not_found, unsupported or disabled.
    reason                  VARCHAR     Why the figures are missing or partial, in words.
    fetched_at              TIMESTAMP!  When the forge was asked (UTC).
    api_url                 VARCHAR     Forge API URL of the repository (no token).
    scope                   VARCHAR     repository, or owner: an organisation, user or group address, read over its
                                        public repositories (a weak signal: the owner may host other products).
    """,
    key=("startup_id", "year"),
)

STATS_PAGE_CHECKS = table(
    "stats_page_checks",
    """
    Every check of a declared stats page or repository URL: did it answer, with what status, where did it end.

    startup_id   VARCHAR!    Registry id of the startup.
    kind         VARCHAR!    What was checked: stats_url or repository.
    url          VARCHAR!    URL as declared (stripped).
    status_code  INTEGER     HTTP status of the final answer (304 = unchanged since a 2xx); NULL on network errors.
    ok           BOOLEAN!    True when the URL answered with a success status after redirects.
    final_url    VARCHAR     URL after redirects.
    checked_at   TIMESTAMP!  When it was checked (UTC); such a check is evidence for that year only.
    error        VARCHAR     Why it failed (timeout, HTTP 404, not an http(s) URL…).
    source       VARCHAR     live (fetched) or recorded (offline sample answers).
    """,
    key=("startup_id", "kind", "checked_at"),
)

WEB_ARCHIVE_CAPTURES = table(
    "web_archive_captures",
    """
    Captures of declared stats pages and repositories in a Wayback-compatible web archive (CDX API): what the URL
    answered and when. A 2xx capture is evidence that the page was online on that day.

    url          VARCHAR!    URL as declared in the registry (stripped), the one asked to the archive.
    captured_at  TIMESTAMP!  When the archive captured it (UTC, from the CDX timestamp).
    status_code  INTEGER     HTTP status the URL answered the archive's crawler; NULL when the CDX gives '-'.
    original     VARCHAR     URL the archive captured (as the CDX gives it).
    capture_url  VARCHAR!    Public link to the capture (https://web.archive.org/web/<timestamp>/<url>).
    asked_at     TIMESTAMP!  When the archive was asked (UTC).
    """,
    key=("url", "captured_at"),
)

WEB_ARCHIVE_QUERIES = table(
    "web_archive_queries",
    """
    Every CDX query sent to the web archive: which URL, which years, when, and how it went. The cache that keeps
    later runs from asking again about years that can no longer change.

    url         VARCHAR!    URL asked about.
    from_year   INTEGER!    First year asked (CDX `from`).
    to_year     INTEGER!    Last year asked (CDX `to`).
    asked_at    TIMESTAMP!  When it was asked (UTC).
    ok          BOOLEAN!    True when the archive answered with a CDX result (possibly empty).
    n_captures  INTEGER     Captures in the answer.
    error       VARCHAR     Why it failed (429 after retries, 503, timeout…).
    """,
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
