"""The criteria of the policy as pure rules: SQL over the working DuckDB tables (no Dagster, no other I/O).

Criterion (a) reads the phase at the end of the year; (b) and (c) live with their sources
(`defs/usage/criterion.py`, `defs/quality/criterion.py`). The official designation is computed beside
the verdict and never read by a criterion. Everything per service-year happens inside DuckDB: a registry
of tens of thousands of services is judged for every year without a Python loop over its rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from impact_pipeline.criteria_config import CriteriaConfig
from impact_pipeline.defs.registry.phases import create_phase_at
from impact_pipeline.lib.sql import sql_array, sql_literal

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
CRITERIA = ("a", "b", "c")
EVALUATION_COLUMNS = ("year", "startup_id", "criterion", "verdict", "reason", "evidence")


def phase_at_year_end_sql(years: list[int]) -> str:
    """For each year and startup with a phase started by Dec 31, the phase in force that day.

    The rule is the macro `phase_at` (`phases.create_phase_at`), which must be defined on the connection.
    """
    year_list = ", ".join(str(int(y)) for y in years)
    fields = "p.start_date, p.phase_normalized, p.position, make_date(y.year::BIGINT, 12, 31)"
    return f"""
        SELECT y.year, p.startup_id, phase_at(p.phase, {fields}) AS phase,
               phase_at(p.phase_normalized, {fields}) AS phase_normalized,
               phase_at(p.start_date, {fields}) AS start_date
        FROM (SELECT unnest([{year_list}]::INTEGER[]) AS year) y
        JOIN startup_phases p ON p.start_date <= make_date(y.year::BIGINT, 12, 31)
        GROUP BY y.year, p.startup_id
    """


def phase_at_year_end(con: duckdb.DuckDBPyConnection, years: list[int]) -> pd.DataFrame:
    """`phase_at_year_end_sql` as a frame (explanations, tests)."""
    create_phase_at(con)
    return con.execute(phase_at_year_end_sql(years) + " ORDER BY year, startup_id").df()


def criterion_a_sql(phases: str, config: CriteriaConfig, source: dict[str, Any]) -> str:
    """(a) national deployment: pass when the phase at the end of the year is a qualifying one.

    `phases` names a table with the columns of `phase_at_year_end_sql`; one row comes out per row in it.
    """
    qualifying = sql_array(config.criteria.a.qualifying_phases)
    listed = sql_literal(", ".join(config.criteria.a.qualifying_phases))
    source_fields = "".join(f", {sql_literal(k)}, {sql_literal(v)}" for k, v in source.items())
    quote = "''''"  # a single quote, as a SQL literal
    return f"""
        SELECT year, startup_id, 'a' AS criterion,
               CASE WHEN phase_normalized IS NULL THEN 'unknown'
                    WHEN list_contains({qualifying}, phase_normalized) THEN 'pass' ELSE 'fail' END AS verdict,
               CASE WHEN phase_normalized IS NULL THEN
                        '(a) unknown: the phase at the end of ' || year || ' is ' || {quote} || phase || {quote}
                        || ' (since ' || start || '), a name in neither phase vocabulary.'
                    WHEN list_contains({qualifying}, phase_normalized) THEN
                        '(a) pass: phase ' || shown || ' at the end of ' || year || ' (since ' || start
                        || ') is a qualifying phase.'
                    ELSE '(a) fails: the phase at the end of ' || year || ' was ' || shown || ' (since ' || start
                        || '), not a qualifying phase (' || {listed} || ').'
               END AS reason,
               json_object('phase_at_year_end', phase_normalized, 'phase_published', phase, 'phase_start', start,
                           'qualifying_phases', {qualifying}{source_fields}) AS evidence
        FROM (
            SELECT *, strftime(start_date, '%Y-%m-%d') AS start,
                   CASE WHEN phase_normalized = phase THEN {quote} || phase_normalized || {quote}
                        ELSE {quote} || phase_normalized || {quote} || ' (published ' || {quote}
                            || phase || {quote} || ')'
                   END AS shown
            FROM {phases}
        )
    """


def evaluate_sql(
    con: duckdb.DuckDBPyConnection, years: list[int], config: CriteriaConfig, source: dict[str, Any]
) -> str:
    """The long evaluation for `years` as one SELECT: a row per (year, startup, criterion), unordered.

    The keys are the service-years with a phase by Dec 31 (temp tables `_eval_phases`, `_eval_keys` on `con`);
    (b) and (c) see the same keys and never read the designation.
    """
    from impact_pipeline.defs.quality.criterion import criterion_c_sql
    from impact_pipeline.defs.usage.criterion import criterion_b_sql

    create_phase_at(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _eval_phases AS {phase_at_year_end_sql(years)}")
    con.execute("CREATE OR REPLACE TEMP TABLE _eval_keys AS SELECT year, startup_id FROM _eval_phases")
    parts = [
        criterion_a_sql("_eval_phases", config, source),
        criterion_b_sql(con, "_eval_keys", config),
        criterion_c_sql(con, "_eval_keys", config),
    ]
    columns = ", ".join(EVALUATION_COLUMNS)
    union = " UNION ALL ".join(f"SELECT {columns} FROM ({part})" for part in parts)
    return (
        f"SELECT year, startup_id, criterion, verdict, reason, evidence::JSON AS evidence, "
        f"{sql_literal(config.criteria_version)} AS criteria_version FROM ({union})"
    )


def evaluate(
    con: duckdb.DuckDBPyConnection, years: list[int], config: CriteriaConfig, source: dict[str, Any]
) -> pd.DataFrame:
    """`evaluate_sql` as a frame (tests and small worlds; the asset inserts straight from the SQL)."""
    return con.execute(
        f"SELECT * FROM ({evaluate_sql(con, years, config, source)}) ORDER BY year, startup_id, criterion"
    ).df()


def designations_sql(config: CriteriaConfig) -> str:
    """Official designations: one row per designated startup, with the year it was designated for.

    A startup is designated once; if the registry carries several events, the earliest counts. Early-year
    events since `deferred_from_year` designate the previous year (criteria config).
    """
    return f"""
        SELECT startup_id, event_date,
               CASE WHEN year(event_date) >= {int(config.designation.deferred_from_year)}
                         AND month(event_date) <= {int(config.designation.deferred_until_month)}
                    THEN year(event_date) - 1 ELSE year(event_date) END::INTEGER AS designation_year
        FROM (
            SELECT startup_id, event_date::DATE AS event_date,
                   row_number() OVER (PARTITION BY startup_id ORDER BY event_date, position) AS rn
            FROM startup_events
            WHERE name = {sql_literal(config.designation.event_name)} AND event_date IS NOT NULL
        )
        WHERE rn = 1
    """


def designations(con: duckdb.DuckDBPyConnection, config: CriteriaConfig) -> pd.DataFrame:
    return con.execute(designations_sql(config) + " ORDER BY startup_id").df()


def national_impact_sql(years: list[int], designated: str) -> str:
    """The published table for `years` from criteria_evaluation, startups and the `designated` table.

    Criteria side by side, `meets_criteria` when all three pass, the reasons of every criterion that does
    not pass (in criterion order), the three evidence objects under their criterion, and the official
    designation beside the verdict. One join per criterion (no grouping over the evidence documents), and
    the evidence objects are placed as they are, already JSON, rather than parsed again.
    """
    year_list = ", ".join(str(int(y)) for y in years)
    criteria = [
        f"(SELECT year, startup_id, verdict AS v_{c}, reason AS r_{c}, evidence AS e_{c}, criteria_version AS cv_{c} "
        f"FROM criteria_evaluation WHERE criterion = '{c}' AND year IN ({year_list}))"
        for c in CRITERIA
    ]
    joined = criteria[0] + "".join(f" FULL JOIN {part} USING (year, startup_id)" for part in criteria[1:])
    reasons = ", ".join(f"CASE WHEN v_{c} <> 'pass' THEN r_{c} END" for c in CRITERIA)
    evidence = " || ',' || ".join(f"'\"{c}\":' || coalesce(e_{c}::VARCHAR, 'null')" for c in CRITERIA)
    return f"""
        SELECT year, startup_id, s.name, e_a->>'phase_at_year_end' AS phase_at_year_end,
               v_a AS criterion_a, v_b AS criterion_b, v_c AS criterion_c,
               coalesce(v_a = 'pass' AND v_b = 'pass' AND v_c = 'pass', FALSE) AS meets_criteria,
               coalesce(d.designation_year <= year, FALSE) AS officially_designated,
               d.designation_year::INTEGER AS designation_year,
               concat_ws(' ', {reasons}) AS reasons,
               ('{{' || {evidence} || '}}')::JSON AS evidence,
               coalesce(cv_a, cv_b, cv_c) AS criteria_version
        FROM {joined}
        LEFT JOIN startups s USING (startup_id)
        LEFT JOIN {designated} d USING (startup_id)
    """


def summary_sql(years: list[int], designated: str) -> str:
    """One row per year of `years`: the stock meeting the criteria, first-timers, designations (flow, cumulative).

    "First time" looks at every year of national_impact, not only `years`: a service that met the
    criteria in an earlier year is not new, even if that year is not being recomputed.
    """
    year_list = ", ".join(str(int(y)) for y in years)
    return f"""
        WITH y AS (SELECT unnest([{year_list}]::INTEGER[]) AS year),
        firsts AS (SELECT startup_id, min(year) AS first_year FROM national_impact WHERE meets_criteria
            GROUP BY startup_id),
        table_counts AS (
            SELECT n.year, count(*) AS n_evaluated,
                   count(DISTINCT n.startup_id) FILTER (WHERE n.meets_criteria) AS n_meeting_criteria,
                   count(DISTINCT n.startup_id) FILTER (WHERE n.meets_criteria
                       AND f.first_year = n.year) AS n_first_meeting,
                   string_agg(DISTINCT n.criteria_version, ',' ORDER BY n.criteria_version) AS criteria_version
            FROM national_impact n LEFT JOIN firsts f USING (startup_id)
            WHERE n.year IN (SELECT year FROM y)
            GROUP BY n.year
        ),
        designation_counts AS (
            SELECT y.year,
                   count(*) FILTER (WHERE d.designation_year = y.year) AS n_designated_in_year,
                   count(*) FILTER (WHERE d.designation_year <= y.year) AS n_designated_cumulative,
                   count(*) FILTER (WHERE d.designation_year <= y.year AND NOT EXISTS (
                       SELECT 1 FROM national_impact m
                       WHERE m.year = y.year AND m.startup_id = d.startup_id
                           AND m.meets_criteria)) AS n_designated_not_meeting
            FROM y LEFT JOIN {designated} d ON TRUE
            GROUP BY y.year
        ),
        meeting_not_designated AS (
            SELECT n.year, count(DISTINCT n.startup_id) AS n_meeting_not_designated
            FROM national_impact n LEFT JOIN {designated} d USING (startup_id)
            WHERE n.meets_criteria AND n.year IN (SELECT year FROM y)
              AND (d.designation_year IS NULL OR d.designation_year > n.year)
            GROUP BY n.year
        )
        SELECT y.year,
               coalesce(t.n_evaluated, 0) AS n_evaluated,
               coalesce(t.n_meeting_criteria, 0) AS n_meeting_criteria,
               coalesce(t.n_first_meeting, 0) AS n_first_meeting,
               dc.n_designated_in_year, dc.n_designated_cumulative, dc.n_designated_not_meeting,
               coalesce(m.n_meeting_not_designated, 0) AS n_meeting_not_designated,
               coalesce(t.criteria_version, '') AS criteria_version
        FROM y
        LEFT JOIN table_counts t USING (year)
        LEFT JOIN designation_counts dc USING (year)
        LEFT JOIN meeting_not_designated m USING (year)
        ORDER BY y.year
    """
