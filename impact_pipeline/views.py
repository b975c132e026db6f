"""Views for the analysts' common questions, defined like the tables in `contract.py`.

Each view has a description and a description per column, written as `COMMENT ON VIEW` / `COMMENT ON
COLUMN` so that `duckdb_views()` and `duckdb_columns()` explain them. They are (re)created by
`ensure_tables` in `lib/warehouse.py`, so every working and published file carries them. Like the tables,
they are part of the analyst contract: change them on purpose and say so in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

from impact_pipeline.contract import Column, columns, comment_statements


@dataclass(frozen=True)
class View:
    name: str
    description: str
    sql: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        return f'CREATE OR REPLACE VIEW "{self.name}" AS\n{self.sql.strip()}'

    def comments(self) -> list[str]:
        return comment_statements("VIEW", self.name, self.description, self.columns)


# The columns the views over national_impact share, described once; each view picks its own, in its order.
_SHARED = {
    c.name: c
    for c in columns(
        """
        year                   INTEGER  Evaluated year.
        startup_id             VARCHAR  Registry id of the startup.
        name                   VARCHAR  Name of the service.
        phase_at_year_end      VARCHAR  Phase at the end of the year (2026 vocabulary), NULL when unknown.
        criterion_a            VARCHAR  (a) national deployment: pass / fail / unknown.
        criterion_b            VARCHAR  (b) significant impact: pass / fail / unknown.
        criterion_c            VARCHAR  (c) quality standards: pass / fail / unknown.
        meets_criteria         BOOLEAN  True exactly when the three criteria pass.
        officially_designated  BOOLEAN  True when designated for this year or an earlier one.
        designation_year       INTEGER  Year the service was officially designated for (NULL if never).
        designated_this_year   BOOLEAN  True when the service was designated for exactly this year.
        first_year_meeting     INTEGER  First evaluated year in which the service met all three criteria (NULL if
                                        never).
        reasons                VARCHAR  One sentence per criterion that is not a pass.
        evidence               JSON     Evidence per criterion: values, sources, URLs.
        criteria_version       VARCHAR  Version of the criteria config used.
        """
    )
}


def _pick(names: str) -> tuple[Column, ...]:
    return tuple(_SHARED[name] for name in names.split())


# First year each service met all three criteria (shared by two views).
_FIRST_MEETING_SQL = """
    SELECT startup_id, min(year) AS first_year_meeting
    FROM national_impact WHERE meets_criteria GROUP BY startup_id
"""

REVIEW_DESIGNATED_NOT_MEETING = View(
    "review_designated_not_meeting",
    "Review list: services officially designated (for this year or earlier) that do not meet the criteria "
    "in the year, with the reasons. One row per (year, service).",
    """
    SELECT n.year, n.startup_id, n.name, n.designation_year, n.phase_at_year_end,
           n.criterion_a, n.criterion_b, n.criterion_c, n.reasons, n.criteria_version
    FROM national_impact n
    WHERE n.officially_designated AND NOT n.meets_criteria
    ORDER BY n.year, n.startup_id
    """,
    _pick(
        """
        year startup_id name designation_year phase_at_year_end criterion_a criterion_b criterion_c reasons
        criteria_version
        """
    ),
)

REVIEW_MEETING_NOT_DESIGNATED = View(
    "review_meeting_not_designated",
    "Review list: services meeting the three criteria in the year but not officially designated "
    "(for this year or earlier). One row per (year, service).",
    f"""
    SELECT n.year, n.startup_id, n.name, f.first_year_meeting, n.phase_at_year_end,
           n.criterion_a, n.criterion_b, n.criterion_c, n.criteria_version
    FROM national_impact n
    LEFT JOIN ({_FIRST_MEETING_SQL}) f USING (startup_id)
    WHERE n.meets_criteria AND NOT n.officially_designated
    ORDER BY n.year, n.startup_id
    """,
    _pick(
        """
        year startup_id name first_year_meeting phase_at_year_end criterion_a criterion_b criterion_c
        criteria_version
        """
    ),
)

SERVICE_HISTORY = View(
    "service_history",
    "A service's history across years: one row per (service, year) evaluated, with the three criteria, "
    "the verdict and the designation. Filter on startup_id.",
    f"""
    SELECT n.startup_id, n.name, n.year, n.phase_at_year_end,
           n.criterion_a, n.criterion_b, n.criterion_c, n.meets_criteria,
           n.designation_year, n.officially_designated,
           coalesce(n.designation_year = n.year, false) AS designated_this_year,
           f.first_year_meeting, n.reasons, n.criteria_version
    FROM national_impact n
    LEFT JOIN ({_FIRST_MEETING_SQL}) f USING (startup_id)
    ORDER BY n.startup_id, n.year
    """,
    _pick(
        """
        startup_id name year phase_at_year_end criterion_a criterion_b criterion_c meets_criteria
        designation_year officially_designated designated_this_year first_year_meeting reasons
        criteria_version
        """
    ),
)

LATEST_YEAR = View(
    "latest_year",
    "The national_impact rows of the latest evaluated year (which may be the current, unfinished year).",
    """
    SELECT n.year, n.startup_id, n.name, n.phase_at_year_end, n.criterion_a, n.criterion_b, n.criterion_c,
           n.meets_criteria, n.officially_designated, n.designation_year, n.reasons, n.evidence, n.criteria_version
    FROM national_impact n
    WHERE n.year = (SELECT max(year) FROM national_impact)
    ORDER BY n.startup_id
    """,
    _pick(
        """
        year startup_id name phase_at_year_end criterion_a criterion_b criterion_c meets_criteria
        officially_designated designation_year reasons evidence criteria_version
        """
    ),
)

USAGE_COVERAGE = View(
    "usage_coverage",
    "Usage evidence at a glance: one row per evaluated service, with its stats page, its proposals, the discovered "
    "and reviewed sources in use, the years with a figure and the best figure of the latest full year. "
    "Services without any source, designated ones first, are the first to review.",
    """
    WITH services AS (
        SELECT startup_id, any_value(name) AS name, bool_or(officially_designated) AS officially_designated
        FROM national_impact GROUP BY startup_id
    ), pages AS (
        SELECT startup_id, bool_or(ok) AS ok FROM stats_page_checks WHERE kind = 'stats_url' GROUP BY startup_id
    ), proposals AS (
        SELECT startup_id, count(*) FILTER (WHERE status = 'proposed' AND kind <> 'metabase_dashboard') AS n_proposed,
               count(*) FILTER (WHERE status = 'in_use') AS n_discovered
        FROM usage_source_proposals GROUP BY startup_id
    ), reviewed AS (
        SELECT startup_id, count(DISTINCT source || ' ' || source_ref) AS n_reviewed
        FROM usage_source_status WHERE discovered_on IS NULL AND startup_id IS NOT NULL GROUP BY startup_id
    ), figures AS (
        SELECT startup_id, string_agg(year::VARCHAR, ', ' ORDER BY year) AS years_with_figure
        FROM yearly_reach GROUP BY startup_id
    ), latest AS (
        SELECT startup_id, value, unit, source, discovered_on IS NULL AS reviewed
        FROM yearly_reach WHERE year = year(current_date) - 1
    )
    SELECT s.startup_id, s.name, s.officially_designated,
           coalesce(trim(st.stats_url), '') <> '' AS stats_page_declared,
           pg.ok AS stats_page_answering,
           coalesce(pr.n_proposed, 0) AS n_proposals,
           coalesce(pr.n_discovered, 0) AS n_discovered_in_use,
           coalesce(rv.n_reviewed, 0) AS n_reviewed_sources,
           f.years_with_figure,
           year(current_date) - 1 AS latest_full_year,
           l.value AS latest_full_year_value, l.unit AS latest_full_year_unit, l.source AS latest_full_year_source,
           l.reviewed AS latest_full_year_reviewed,
           coalesce(pr.n_discovered, 0) + coalesce(rv.n_reviewed, 0) = 0 AND f.years_with_figure IS NULL AS no_source
    FROM services s
    LEFT JOIN startups st USING (startup_id)
    LEFT JOIN pages pg USING (startup_id)
    LEFT JOIN proposals pr USING (startup_id)
    LEFT JOIN reviewed rv USING (startup_id)
    LEFT JOIN figures f USING (startup_id)
    LEFT JOIN latest l USING (startup_id)
    ORDER BY no_source DESC, s.officially_designated DESC, s.startup_id
    """,
    _pick("startup_id name")
    + columns(
        """
        officially_designated      BOOLEAN  True when designated for some year.
        stats_page_declared        BOOLEAN  True when the registry declares a stats_url.
        stats_page_answering       BOOLEAN  True when a check of the stats page answered; NULL when never checked.
        n_proposals                INTEGER  Sources recognised on the stats page waiting for review
                                            (usage_source_proposals).
        n_discovered_in_use        INTEGER  Unambiguous discovered sources read for (b), not reviewed.
        n_reviewed_sources         INTEGER  Sources of the service read from the reviewed file, declared figures or
                                            data.gouv.fr.
        years_with_figure          VARCHAR  Years with a yearly reach figure, comma-separated; NULL when none.
        latest_full_year           INTEGER  The latest finished calendar year.
        latest_full_year_value     DOUBLE   Best yearly reach figure of that year (yearly_reach), NULL when none.
        latest_full_year_unit      VARCHAR  Unit of that figure.
        latest_full_year_source    VARCHAR  Adapter of that figure.
        latest_full_year_reviewed  BOOLEAN  False when that figure comes from a discovered source.
        no_source                  BOOLEAN  True when the service has no usage source at all and no figure in any year.
        """
    ),
)

# The criterion that decides a disagreement: the first failing one, else the first that is not a pass.
DECIDING_CRITERION_SQL = """CASE WHEN criterion_a = 'fail' THEN 'a' WHEN criterion_b = 'fail' THEN 'b'
                                 WHEN criterion_c = 'fail' THEN 'c' WHEN criterion_a <> 'pass' THEN 'a'
                                 WHEN criterion_b <> 'pass' THEN 'b' WHEN criterion_c <> 'pass' THEN 'c' END"""

DESIGNATION_BACKTEST = View(
    "designation_backtest",
    "How far the policy as written agrees with the committee's decisions, year by year: services designated for the "
    "year, services meeting the criteria, both, the share of designated services that meet them, and each "
    "disagreement with the criterion that decides it. One row per evaluated year.",
    f"""
    WITH n AS (
        SELECT *, designation_year IS NOT DISTINCT FROM year AS designated_for_year,
               {DECIDING_CRITERION_SQL} AS deciding_criterion
        FROM national_impact
    )
    SELECT year,
           count(*) FILTER (WHERE designated_for_year)::INTEGER AS n_designated,
           count(*) FILTER (WHERE meets_criteria)::INTEGER AS n_meeting,
           count(*) FILTER (WHERE designated_for_year AND meets_criteria)::INTEGER AS n_designated_meeting,
           round(count(*) FILTER (WHERE designated_for_year AND meets_criteria)
                 / nullif(count(*) FILTER (WHERE designated_for_year), 0), 3) AS share_designated_meeting,
           count(*) FILTER (WHERE designated_for_year AND NOT meets_criteria)::INTEGER AS n_designated_not_meeting,
           count(*) FILTER (WHERE meets_criteria AND NOT officially_designated)::INTEGER AS n_meeting_not_designated,
           coalesce(to_json(list({{'startup_id': startup_id, 'name': name,
                                  'kind': CASE WHEN meets_criteria THEN 'meeting, not designated'
                                               ELSE 'designated for the year, not meeting' END,
                                  'deciding_criterion': deciding_criterion,
                                  'verdict': CASE deciding_criterion WHEN 'a' THEN criterion_a WHEN 'b' THEN criterion_b
                                                 WHEN 'c' THEN criterion_c END}}
                                 ORDER BY meets_criteria, startup_id)
                            FILTER (WHERE (designated_for_year AND NOT meets_criteria)
                                       OR (meets_criteria AND NOT officially_designated))), '[]')::JSON AS disagreements
    FROM n
    GROUP BY year
    ORDER BY year
    """,
    _pick("year")
    + columns(
        """
        n_designated              INTEGER  Services officially designated for this year (the committee's flow).
        n_meeting                 INTEGER  Services meeting the three criteria in the year (the policy's stock).
        n_designated_meeting      INTEGER  Services designated for this year that meet the criteria in it.
        share_designated_meeting  DOUBLE   n_designated_meeting / n_designated (3 decimals); NULL when nobody was
                                           designated for the year.
        n_designated_not_meeting  INTEGER  Designated for this year, not meeting the criteria in it.
        n_meeting_not_designated  INTEGER  Meeting the criteria, designated neither for this year nor earlier.
        disagreements             JSON     Each disagreement: startup_id, name, kind, deciding_criterion (the first
                                           failing criterion, else the first not passing) and its verdict.
        """
    ),
)

VIEWS: tuple[View, ...] = (
    REVIEW_DESIGNATED_NOT_MEETING,
    REVIEW_MEETING_NOT_DESIGNATED,
    SERVICE_HISTORY,
    LATEST_YEAR,
    USAGE_COVERAGE,
    DESIGNATION_BACKTEST,
)


def ensure_views(con) -> None:
    """(Re)create every view and its comments; the tables they read must exist (see `ensure_tables`)."""
    for view in VIEWS:
        con.execute(view.ddl())
        for statement in view.comments():
            con.execute(statement)
