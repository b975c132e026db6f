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
        cols = ",\n  ".join(f'"{c.name}" {c.type}' for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'

    def comments(self) -> list[str]:
        def q(text: str) -> str:
            return "'" + text.replace("'", "''") + "'"

        out = [f'COMMENT ON TABLE "{self.name}" IS {q(self.description)}']
        out += [f'COMMENT ON COLUMN "{self.name}"."{c.name}" IS {q(c.description)}' for c in self.columns]
        return out


C = Column

REGISTRY_RAW = Table(
    "registry_raw",
    "Every fetch of the startups registry: where from, when, checksum and the raw document as received.",
    (
        C("fetched_at", "TIMESTAMP", "When the document was fetched (UTC).", True),
        C("source_url", "VARCHAR", "URL or local path the registry was read from.", True),
        C("final_url", "VARCHAR", "URL after redirects.", True),
        C("sha256", "VARCHAR", "SHA-256 of the raw bytes.", True),
        C("n_bytes", "BIGINT", "Size of the raw document in bytes.", True),
        C("n_startups", "INTEGER", "Number of records in the document's `data` list.", True),
        C("document", "VARCHAR", "The raw JSON document, verbatim.", True),
    ),
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
        C("accessibility_status", "VARCHAR", "Declared accessibility: totalement / partiellement / non conforme, or NULL."),
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
        C("reason", "VARCHAR", "Human-readable explanation of the verdict.", True),
        C("evidence", "JSON", "Values, sources and URLs the verdict rests on.", True),
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
        C("officially_designated", "BOOLEAN", "True when the service was officially designated for this year or an earlier one.", True),
        C("designation_year", "INTEGER", "Year the service was officially designated for (NULL if never)."),
        C("reasons", "VARCHAR", "One sentence per criterion that is not a pass.", True),
        C("evidence", "JSON", "Evidence per criterion: values, sources, URLs.", True),
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
        C("n_first_meeting", "INTEGER", "Services meeting all criteria this year and in no earlier evaluated year.", True),
        C("n_designated_in_year", "INTEGER", "Services officially designated for this year (a flow).", True),
        C("n_designated_cumulative", "INTEGER", "Services designated for this year or earlier.", True),
        C("n_designated_not_meeting", "INTEGER", "Designated up to this year but not meeting the criteria this year.", True),
        C("n_meeting_not_designated", "INTEGER", "Meeting the criteria this year but never designated up to this year.", True),
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

ALL_TABLES: tuple[Table, ...] = (
    REGISTRY_RAW,
    STARTUPS,
    STARTUP_PHASES,
    STARTUP_EVENTS,
    INCUBATORS,
    REGISTRY_FINDINGS,
    CRITERIA_EVALUATION,
    NATIONAL_IMPACT,
    NATIONAL_IMPACT_SUMMARY,
    PUBLISH_LOG,
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
