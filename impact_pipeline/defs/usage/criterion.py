"""Criterion (b), significant impact, as SQL over `yearly_reach` and `usage_source_status`.

pass: the year's deciding figure (`yearly_reach`: the best-ranked one, or the best-ranked public one meeting the
threshold when the best has no public URL) meets the threshold (criteria config) and has a public evidence URL;
fail: it is below the threshold (a lower bound only when the months it does not cover precede the service's first
phase); unknown: no figure (saying why: no source, a source down, no data for the year), a lower bound below the
threshold with months missing while the service existed, or a figure meeting the threshold without a public URL.

The verdicts are computed in DuckDB: `yearly_reach` (one row per service-year with a figure) and the
source statuses (one row per service) are judged once into small temp tables, and the evaluation joins
every service-year to them, so nothing runs in Python per service-year.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas stays out of the code location's import time
    import pandas as pd

    from impact_pipeline.criteria_config import CriteriaConfig

# Asset keys criterion (b) reads; the yearly evaluation depends on them.
DEPS: list[str] = ["yearly_reach"]

# Stand-ins with the contract's columns, for working files written before these tables existed.
_NO_REACH = (
    "SELECT NULL::VARCHAR AS startup_id, NULL::INTEGER AS year, NULL::DOUBLE AS value, NULL::VARCHAR AS unit, "
    "NULL::VARCHAR AS kind, NULL::VARCHAR AS evidence_rank, NULL::VARCHAR AS source, NULL::VARCHAR AS source_ref, "
    "NULL::VARCHAR AS evidence_url, NULL::BOOLEAN AS upper_bound, NULL::INTEGER AS n_candidates, "
    "NULL::VARCHAR AS note, NULL::DATE AS period_start, NULL::DATE AS period_end, NULL::BOOLEAN AS lower_bound, "
    "NULL::VARCHAR AS coverage, NULL::DATE AS last_uncovered_day, NULL::VARCHAR AS top_figure, "
    "NULL::VARCHAR AS discovered_on WHERE false"
)
_NO_PHASES = "SELECT NULL::VARCHAR AS startup_id, NULL::DATE AS start_date WHERE false"
_NO_STATUS = (
    "SELECT NULL::VARCHAR AS startup_id, NULL::VARCHAR AS source, NULL::VARCHAR AS source_ref, "
    "NULL::VARCHAR AS status, NULL::VARCHAR AS error WHERE false"
)

# Numbers as Python's `f"{v:,.0f}"` for whole values, else `f"{v:,.1f}"`; a source named in a reason
# (`matomo stats.example.org site 12`, `declared by <who>`). NULL texts read `None`, as an f-string would.
_MACROS = """
CREATE OR REPLACE TEMP MACRO _b_fmt(v) AS
    CASE WHEN isfinite(v::DOUBLE) AND v::DOUBLE = trunc(v::DOUBLE) THEN format('{:,.0f}', v::DOUBLE)
         ELSE format('{:,.1f}', v::DOUBLE) END;
CREATE OR REPLACE TEMP MACRO _b_text(v) AS coalesce(v::VARCHAR, 'None');
CREATE OR REPLACE TEMP MACRO _b_describe(source, source_ref) AS
    CASE WHEN source = 'declared' THEN 'declared by ' || _b_text(source_ref)
         ELSE _b_text(source) || ' ' || _b_text(source_ref) END;
"""

# One judged row per service-year that has a figure (yearly_reach is small).
_REACH = """
CREATE OR REPLACE TEMP TABLE _b_reach AS
WITH reach AS (
    SELECT * FROM ({source})
    WHERE startup_id IS NOT NULL AND year IS NOT NULL AND value IS NOT NULL  -- not a figure otherwise
    -- the contract's key; a duplicated key in a damaged file must not duplicate verdicts
    QUALIFY row_number() OVER (PARTITION BY startup_id, year ORDER BY evidence_rank, source, source_ref, value DESC) = 1
), parts AS (
    SELECT r.startup_id, r.year::INTEGER AS year, r.value::DOUBLE AS value, r.unit, r.kind, r.source, r.source_ref,
           r.evidence_url, r.evidence_rank, coalesce(r.upper_bound, false) AS upper_bound, r.note,
           r.n_candidates::INTEGER AS n_candidates, r.discovered_on,
           coalesce(r.lower_bound, false) AS lower_bound, r.coverage, CAST(r.last_uncovered_day AS DATE)
               AS uncovered_until,
           r.top_figure, f.first_start,
           p.url IS NOT NULL AS public,
           CASE WHEN r.kind = 'users' THEN 'people' ELSE _b_text(r.kind) END AS words,
           _b_describe(r.source, r.source_ref) AS place,
           CAST(CAST(r.period_start AS DATE) AS VARCHAR) AS day_start,
           CAST(CAST(r.period_end AS DATE) AS VARCHAR) AS day_end
    FROM reach r
    LEFT JOIN _b_public p ON p.url = r.evidence_url
    LEFT JOIN (SELECT startup_id, min(CAST(start_date AS DATE)) AS first_start FROM ({phases}) GROUP BY startup_id) f
           ON f.startup_id = r.startup_id
), figures AS (
    SELECT *,
           CASE WHEN day_start IS NOT NULL AND day_end IS NOT NULL THEN day_start || '/' || day_end END AS period,
           CASE
               WHEN upper_bound THEN format('at most {} {} in {} ({}; {})', _b_fmt(value), words, year,
                   _b_text(note), place)
               WHEN evidence_rank = 'declared' THEN format('{} {} in {} ({})', _b_fmt(value), words, year, place)
               ELSE format('{}{} {} in {} ({}{})', CASE WHEN lower_bound THEN 'at least ' ELSE '' END, _b_fmt(value),
                           CASE WHEN kind = 'users' THEN 'people' ELSE 'yearly ' || words END, year, place,
                           CASE WHEN lower_bound THEN format('; figures cover {} only', _b_text(coverage))
                                WHEN day_start IS NULL OR day_end IS NULL
                                     OR day_start || '/' || day_end = format('{}-01-01/{}-12-31', year, year) THEN ''
                                ELSE ', 12 months ' || day_start || '→' || day_end END)
           END AS figure,
           -- A lower bound below the threshold fails only when the days no figure covers precede the service.
           lower_bound AND NOT coalesce(uncovered_until < first_start, false) AS undecided
    FROM parts
)
SELECT f.startup_id, f.year,
       -- criteria.b.discovered_sources: whether a discovered (not reviewed) figure may support a pass / a fail
       CASE WHEN f.value < c.threshold AND f.discovered_on IS NOT NULL AND NOT c.discovered_may_fail THEN 'unknown'
            WHEN f.value < c.threshold AND f.undecided THEN 'unknown' WHEN f.value < c.threshold THEN 'fail'
            WHEN NOT f.public THEN 'unknown'
            WHEN f.discovered_on IS NOT NULL AND NOT c.discovered_may_pass THEN 'unknown' ELSE 'pass' END AS verdict,
       CASE WHEN f.value < c.threshold AND f.discovered_on IS NOT NULL AND NOT c.discovered_may_fail
                 THEN format(
                     '(b) unknown: {} is below the threshold of {}, but a discovered source cannot support a fail '
                     '(review it in the sources file).', f.figure, c.limit_text)
            WHEN f.value < c.threshold AND f.undecided
                 THEN format('(b) unknown: {} is below the threshold of {}, but the months not covered {}.',
                             f.figure, c.limit_text,
                             CASE WHEN f.first_start IS NULL
                                  THEN 'cannot be compared with the service''s first phase (none known)'
                                  ELSE format('are not all before the service''s first phase ({})', f.first_start) END)
            WHEN f.value < c.threshold AND f.lower_bound
                 THEN format(
                     '(b) fails: {} is below the threshold of {} (the months not covered precede the service''s '
                     'first phase, {}).', f.figure, c.limit_text, f.first_start)
            WHEN f.value < c.threshold THEN format('(b) fails: {} is below the threshold of {}.',
                f.figure, c.limit_text)
            WHEN NOT f.public THEN format('(b) unknown: {} meets the threshold of {} but has no public evidence URL.',
                                          f.figure, c.limit_text)
            WHEN f.discovered_on IS NOT NULL AND NOT c.discovered_may_pass
                 THEN format('(b) unknown: {} meets the threshold of {}, but a discovered source cannot support a pass '
                             '(review it in the sources file).', f.figure, c.limit_text)
            WHEN f.top_figure IS NOT NULL
                 THEN format(
                     '(b) pass: {} meets the threshold of {} (evidence: {}); the top-ranked figure, {} {} ({} {}), '
                     'has no public evidence URL.', f.figure, c.limit_text, f.evidence_url,
                     _b_fmt(f.top_figure->>'value'), _b_text(f.top_figure->>'kind'),
                     _b_text(f.top_figure->>'source'), _b_text(f.top_figure->>'source_ref'))
            ELSE format('(b) pass: {} meets the threshold of {} (evidence: {}).', f.figure,
                c.limit_text, f.evidence_url)
       END AS reason,
       json_object('value', f.value, 'unit', f.unit, 'kind', f.kind, 'threshold', c.threshold, 'source', f.source,
                   'source_ref', f.source_ref, 'evidence_url', CASE WHEN f.public THEN f.evidence_url END,
                   'evidence_rank', f.evidence_rank, 'period', f.period, 'upper_bound', f.upper_bound, 'year', f.year,
                   'note', f.note, 'n_candidates', f.n_candidates, 'lower_bound', f.lower_bound, 'coverage', f.coverage,
                   'first_phase_start', CAST(f.first_start AS VARCHAR), 'top_figure', f.top_figure::JSON,
                   'reviewed', f.discovered_on IS NULL, 'discovered_on', f.discovered_on) AS evidence
FROM figures f CROSS JOIN _b_config c
"""

# Why a service has no figure, once per service: its sources down, or listed without a figure for the year.
_RUNS = """
CREATE OR REPLACE TEMP TABLE _b_runs AS
WITH per_service AS (
    SELECT startup_id, count(*) AS n,
           string_agg('source ' || _b_text(source) || ' down: ' || _b_text(error),
               '; ' ORDER BY source, source_ref, error)
               FILTER (WHERE status = 'error') AS down,
           string_agg(DISTINCT _b_describe(source, source_ref), ', ' ORDER BY _b_describe(source,
               source_ref)) AS listed,
           -- sorting the structs sorts by source, source_ref, status, error
           to_json(list_sort(list({'source': source, 'source_ref': source_ref, 'status': status,
               'error': error}))) AS sources
    FROM ({source}) WHERE startup_id IS NOT NULL
    GROUP BY startup_id
)
SELECT startup_id, why, ',"note":' || to_json(why) || ',"sources":' || sources || '}' AS evidence_tail
FROM (SELECT startup_id, sources, coalesce(down, listed || CASE WHEN n = 1 THEN ' has' ELSE ' have' END
                                                 || ' no figure covering the year') AS why
      FROM per_service)
"""

# The config as one row. The evidence of a service-year without a figure is the same JSON for every year
# but its `year`: spliced around it as text (values encoded by to_json), 3x faster than a json_object per row.
_CONFIG = """
CREATE OR REPLACE TEMP TABLE _b_config AS
SELECT threshold, _b_fmt(threshold) AS limit_text, no_source_reason, discovered_may_pass, discovered_may_fail,
       '{"value":null,"unit":null,"kind":null,"threshold":' || to_json(threshold) || ',"source":null,"source_ref":null,'
       || '"evidence_url":null,"evidence_rank":null,"period":null,"upper_bound":false,"year":' AS evidence_head,
       ',"note":' || to_json(no_source_reason) || ',"sources":[]}' AS evidence_tail
FROM (SELECT ?::DOUBLE AS threshold, ?::VARCHAR AS no_source_reason, ?::BOOLEAN AS discovered_may_pass,
             ?::BOOLEAN AS discovered_may_fail)
"""

# One row per key, in the column order of the evaluation table.
_SELECT = """
SELECT k.year::INTEGER AS year, k.startup_id::VARCHAR AS startup_id, 'b' AS criterion,
       CASE WHEN r.startup_id IS NULL THEN 'unknown' ELSE r.verdict END AS verdict,
       CASE WHEN r.startup_id IS NULL
            THEN '(b) unknown: no usage figure for ' || k.year::INTEGER || ' (' || coalesce(u.why,
                c.no_source_reason) || ').'
            ELSE r.reason END AS reason,
       CASE WHEN r.startup_id IS NULL
            THEN (c.evidence_head || k.year::INTEGER || coalesce(u.evidence_tail, c.evidence_tail))::JSON
            ELSE r.evidence END AS evidence
FROM {keys} k
CROSS JOIN _b_config c
LEFT JOIN _b_reach r ON r.startup_id = k.startup_id AND r.year = k.year
LEFT JOIN _b_runs u ON u.startup_id = k.startup_id
"""


def _table_exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])


def criterion_b_sql(con, keys: str, config: CriteriaConfig) -> str:
    """A SELECT giving (year, startup_id, criterion 'b', verdict, reason, evidence JSON), one row per row of `keys`.

    `keys` names a table (or view) on `con` with columns (year, startup_id). Prepares TEMP tables and
    macros prefixed `_b_` on `con` (replaced on each call); the SELECT reads them, in no particular order.
    """
    from impact_pipeline.lib.urls import public_evidence_url

    reach = "SELECT * FROM yearly_reach" if _table_exists(con, "yearly_reach") else _NO_REACH
    status = "SELECT * FROM usage_source_status" if _table_exists(con, "usage_source_status") else _NO_STATUS
    con.execute(_MACROS)
    b = config.criteria.b
    con.execute(
        _CONFIG,
        [b.min_yearly_reach, b.no_source_reason, b.discovered_sources.may_pass, b.discovered_sources.may_fail],
    )
    # Whether an evidence URL is public is decided by the same Python rule as everywhere else, once per URL.
    urls = [
        u
        for (u,) in con.execute(
            f"SELECT DISTINCT evidence_url FROM ({reach}) WHERE evidence_url IS NOT NULL"
        ).fetchall()
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _b_public AS SELECT unnest(?::VARCHAR[]) AS url",
        [[u for u in urls if public_evidence_url(u, allow_private_network=config.allow_private_network)]],
    )
    phases = "SELECT startup_id, start_date FROM startup_phases" if _table_exists(con, "startup_phases") else _NO_PHASES
    con.execute(_REACH.replace("{source}", reach).replace("{phases}", phases))
    con.execute(_RUNS.replace("{source}", status))
    return _SELECT.replace("{keys}", keys)


def criterion_b(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """Rows (year, startup_id, criterion='b', verdict, reason, evidence: dict) for every key, by year and id."""
    import json

    con.register("_b_keys_frame", keys[["year", "startup_id"]])
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _b_keys AS "
            "SELECT year::INTEGER AS year, startup_id::VARCHAR AS startup_id FROM _b_keys_frame"
        )
    finally:
        con.unregister("_b_keys_frame")
    sql = criterion_b_sql(con, "_b_keys", config)
    out = con.execute(f"SELECT * FROM ({sql}) ORDER BY year, startup_id").df()
    out["year"] = out["year"].astype("int64")
    out["evidence"] = [json.loads(e) for e in out["evidence"]]
    return out
