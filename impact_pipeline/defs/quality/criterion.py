"""Criterion (c), quality standards, as one DuckDB SELECT over the quality tables.

Six named sub-criteria, each `pass` / `fail` / `unknown` / `not_applicable` with a reason and its evidence;
rules and thresholds come from `criteria.c` in the criteria config. (c) is `pass` only when no
sub-criterion fails and every required one passes; `fail` when one fails; `unknown` otherwise.

Every fact is an observation with a date, and year Y only reads observations from Y's evidence window:
Y-01-01 to the end of month `current_checks.valid_into_next_year_months` of Y+1 (the designation of Y is
prepared early in Y+1). Registry declarations come from the latest registry document observed in the window
that lists the service (`registry_raw.observed_at`, `registry_declarations`; the live registry is the latest
document); stats page and repository answers from the pipeline's own checks made in the window and from web
archive captures taken in it (`web_archive_captures`). Nothing observed after the window counts, and
nothing is guessed: a service no document of the window lists has its registry-derived sub-criteria
`unknown`. Commits are dated, so repository activity is judged for any year.

Python only turns the config into SQL and classifies the registry's distinct texts (blank, web address)
by the same rules as the URL checks; every service-year is judged in SQL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from impact_pipeline.criteria_config import CriteriaConfig, CriterionC, SubCriteria
from impact_pipeline.lib.sql import WHITESPACE_SQL

if TYPE_CHECKING:  # pandas stays out of the code location's import time
    import pandas as pd

# Asset keys criterion (c) reads; the yearly evaluation depends on them.
DEPS: list[str] = [
    "startup_observatoire",
    "repository_activity",
    "stats_page_checks",
    "registry_declarations",
    "web_archive_captures",
]

PASS, FAIL, UNKNOWN, NA = "pass", "fail", "unknown", "not_applicable"
SUB_CRITERIA = tuple(SubCriteria.model_fields)
LABELS = {
    "observatoire_goals": "observatoire goals",
    "accessibility": "accessibility",
    "product_evolving": "product evolving",
    "resources_shared": "resources shared",
    "impact_statistics": "impact statistics online",
    "team_answering": "team answering users",
}
HEADLINE = ("satisfaction", "handicap", "dlnuf", "auth", "simplicity")
COLUMNS = ("year", "startup_id", "criterion", "verdict", "reason", "evidence")


def _lit(value: Any) -> str:
    from impact_pipeline.lib.sql import sql_literal

    return sql_literal(value)


def _cat(*parts: str) -> str:
    # One `concat` per text: a chain of `||` copies the growing string at every step.
    return f"concat({', '.join(parts)})"


# --- preparation: small tables and macros on the connection ---------------------------------------


def _classify_registry_text(con) -> None:
    """`_c_web_urls` and `_c_access`: what SQL alone cannot tell as Python would, over distinct registry values.

    A web address is what `web_address` accepts (the one rule of the URL checks and the fetches, lib/urls):
    every distinct value mentioning http is asked to it, and those it accepts land in `_c_web_urls`.
    Accessibility levels are compared as `str.strip().lower()`.
    """
    from impact_pipeline.lib.urls import web_address

    asked = [
        v
        for (v,) in con.execute("""
        SELECT DISTINCT value FROM (SELECT unnest([stats_url, repository]) AS value FROM _c_documents)
        WHERE regexp_matches(value, '[Hh][Tt][Tt][Pp]')""").fetchall()
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _c_web_urls AS SELECT unnest(?::VARCHAR[]) AS url",
        [[v for v in asked if web_address(v) is not None]],
    )
    levels = [
        v
        for (v,) in con.execute(
            "SELECT DISTINCT accessibility_status FROM _c_documents WHERE accessibility_status IS NOT NULL"
        ).fetchall()
    ]
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _c_access AS
                   SELECT unnest(?::VARCHAR[]) AS value, unnest(?::BOOLEAN[]) AS is_blank,
                       unnest(?::VARCHAR[]) AS norm""",
        [levels, [not v.strip() for v in levels], [v.strip().lower() for v in levels]],
    )


# A stats_page_checks row as the struct its evidence shows.
_CHECK = (
    "{'url': url, 'status_code': status_code, 'ok': ok, "
    "'final_url': final_url, 'checked_at': checked_at, 'error': error}"
)


def _window_end_sql(y: str, months: int) -> str:
    """The last day of year `y`'s evidence window, as a SQL DATE."""
    return f"make_date({y}, 12, 31)" if months == 0 else f"last_day(make_date({y} + 1, {months}, 1))"


def _prepare(con, rules: CriterionC) -> None:
    """The `_c_*` macros, small tables (per service, run-wide) and views (per service-year) the SELECT reads."""
    months = rules.current_checks.valid_into_next_year_months
    # Every registry document as observations: each row of registry_raw is one (its date: observed_at, else the
    # fetch). The latest document's declarations are the `startups` table (parsed from it); the others' are in
    # registry_declarations.
    con.execute("""CREATE OR REPLACE TEMP TABLE _c_registry_obs AS
                   SELECT DISTINCT sha256, coalesce(observed_at, fetched_at) AS observed_at
                   FROM registry_raw WHERE n_startups IS NOT NULL AND sha256 IS NOT NULL""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _c_documents AS
                   WITH latest AS (SELECT sha256 FROM registry_raw WHERE n_startups IS NOT NULL
                                   ORDER BY coalesce(observed_at, fetched_at) DESC, fetched_at DESC LIMIT 1)
                   SELECT sha256, startup_id, stats_url, repository, contact, accessibility_status
                   FROM registry_declarations WHERE sha256 IS DISTINCT FROM (SELECT sha256 FROM latest)
                   UNION ALL
                   SELECT (SELECT sha256 FROM latest), startup_id, stats_url, repository, contact, accessibility_status
                   FROM startups QUALIFY row_number() OVER (PARTITION BY startup_id ORDER BY rowid DESC) = 1""")
    _classify_registry_text(con)
    # Documents from before the registry had an accessibility field (none of their services declares one, as in
    # every year-end document up to 2021): "not declared" there is not an observation, so the verdict is unknown.
    con.execute("""CREATE OR REPLACE TEMP TABLE _c_access_in_use AS
                   SELECT sha256 FROM _c_documents GROUP BY sha256
                   HAVING count(accessibility_status) FILTER (WHERE trim(accessibility_status) <> '') > 0""")
    # (startup_id, year) is repository_activity's key (its asset rewrites whole years); should a key be
    # repeated anyway, its last row wins, in the place of its first one, as in a dict keyed by it (the
    # place breaks ties between equal fetch times). Checking is cheaper than always deduplicating.
    repeated = con.execute("SELECT count(*) > count(DISTINCT (startup_id, year)) FROM repository_activity").fetchall()[
        0
    ][0]
    activity = (
        "SELECT *, min(rowid) OVER (PARTITION BY startup_id, year) AS row FROM repository_activity "
        "QUALIFY row_number() OVER (PARTITION BY startup_id, year ORDER BY rowid DESC) = 1"
        if repeated
        else "SELECT *, rowid AS row FROM repository_activity"
    )

    def years_of(day: str) -> str:
        # The years an observation made on `day` is evidence for: its own, and the previous one early in the year.
        return f"unnest(CASE WHEN month({day}) <= {months} THEN [year({day}), year({day}) - 1] ELSE [year({day})] END)"

    capture = "{'at': captured_at, 'status': status_code, 'link': capture_url}"
    forge_columns = ", ".join(
        f"arg_max_null({f}, _c_latest(fetched_at, row)) AS f_{f}"
        for f in ("repo", "forge", "public", "status", "fetched_at")
    )
    statements = [
        # Whether something observed on `day` is evidence for year `y` (config `current_checks`).
        f"""CREATE OR REPLACE TEMP MACRO _c_valid(y, day) AS coalesce(
                year(day) = y OR (year(day) = y + 1 AND month(day) <= {months}), FALSE)""",
        "CREATE OR REPLACE TEMP MACRO _c_day(day) AS CAST(CAST(day AS DATE) AS VARCHAR)",
        f"""CREATE OR REPLACE TEMP MACRO _c_window(y) AS
                concat(CAST(y AS VARCHAR), '''s evidence window (', CAST(y AS VARCHAR), '-01-01 to ',
                       CAST({_window_end_sql("y", months)} AS VARCHAR), ')')""",
        # Order by time, then by row (the last written wins a tie), as one number: arg_max is fastest on it.
        """CREATE OR REPLACE TEMP MACRO _c_latest(moment, position) AS
               coalesce(epoch_us(moment), -4611686018427387904)::HUGEINT * 1099511627776 + position""",
        # Blank as Python's `not value.strip()` (NULL too); a web address as `web_address` (see `_c_web_urls`).
        f"CREATE OR REPLACE TEMP MACRO _c_blank(text) AS coalesce(trim(text, {WHITESPACE_SQL}) = '', TRUE)",
        """CREATE OR REPLACE TEMP MACRO _c_is_web(text) AS coalesce(text IN (SELECT url FROM _c_web_urls), FALSE)""",
        # A value as Python's f-strings print it (None for NULL).
        "CREATE OR REPLACE TEMP MACRO _c_str(x) AS coalesce(CAST(x AS VARCHAR), 'None')",
        # Run-wide facts: whether the observatoire, or any quality source at all, is connected.
        """CREATE OR REPLACE TEMP TABLE _c_context AS
           SELECT (SELECT count(*) FROM observatoire_procedures) > 0 AS have_observatoire,
                  NOT (SELECT count(*) FROM observatoire_procedures) > 0
                  AND NOT EXISTS (SELECT 1 FROM repository_activity
                                  WHERE status IS NULL OR status NOT IN ('disabled', 'unsupported'))
                  AND NOT EXISTS (SELECT 1 FROM stats_page_checks)
                  AND NOT EXISTS (SELECT 1 FROM web_archive_queries) AS no_source,
                  -- Which source gave nothing, said in the reason (a count of 0 must not read as a finding).
                  concat_ws('; ',
                      CASE WHEN NOT (SELECT count(*) FROM observatoire_procedures) > 0
                           THEN 'observatoire: no data (disabled or unreachable)' END,
                      (SELECT 'forges: ' || string_agg(DISTINCT forge || ' ' || status,
                          ', ' ORDER BY forge || ' ' || status)
                       FROM repository_activity WHERE status IN ('disabled', 'unsupported')),
                      CASE WHEN NOT EXISTS (SELECT 1 FROM repository_activity) THEN 'forges: no repository read' END,
                      CASE WHEN NOT EXISTS (SELECT 1 FROM stats_page_checks)
                           THEN 'stats page checks: none made (disabled or no page declared)' END,
                      CASE WHEN NOT EXISTS (SELECT 1 FROM web_archive_queries)
                           THEN 'web archive: not asked (disabled or nothing declared)' END) AS no_source_detail""",
        # One row per (service, year) of each yearly source (the last row wins, as a dict keyed by it would).
        # Views: each is read once by the SELECT, so nothing is written ahead.
        """CREATE OR REPLACE TEMP VIEW _c_observatoire AS
           SELECT * FROM startup_observatoire
           QUALIFY row_number() OVER (PARTITION BY startup_id, year ORDER BY rowid DESC) = 1""",
        f"CREATE OR REPLACE TEMP VIEW _c_activity AS {activity}",
        # A check as the struct the evidence shows (picked by rowid: arg_max of a struct is much slower).
        f"""CREATE OR REPLACE TEMP VIEW _c_check AS
            SELECT rowid AS row, {_CHECK} AS chk FROM stats_page_checks""",
        # Per kind, the latest check made in a year's window that answered, else the latest one: made in the year,
        # or early in the next one. A page that answered once in the window was online during the year.
        f"""CREATE OR REPLACE TEMP VIEW _c_check_near AS
            SELECT g.startup_id, g.year, coalesce(ro.chk, r.chk) AS repo_chk, coalesce(so.chk, s.chk) AS stats_chk
            FROM (SELECT startup_id, y AS year,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'repository') AS repo_row,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'repository'
                             AND ok) AS repo_ok,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'stats_url') AS stats_row,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'stats_url'
                             AND ok) AS stats_ok
                  FROM (SELECT startup_id, kind, checked_at, ok, rowid, {years_of("checked_at")} AS y
                        FROM stats_page_checks WHERE checked_at IS NOT NULL)
                  GROUP BY startup_id, y) g
            LEFT JOIN _c_check r ON r.row = g.repo_row
            LEFT JOIN _c_check ro ON ro.row = g.repo_ok
            LEFT JOIN _c_check s ON s.row = g.stats_row
            LEFT JOIN _c_check so ON so.row = g.stats_ok""",
        # Per URL and year whose window holds captures: the latest capture answering 2xx and the latest failing one
        # (4xx/5xx; a redirect proves neither), a capture made in the year itself before one of early next year.
        f"""CREATE OR REPLACE TEMP TABLE _c_captures AS
            SELECT url, y AS year,
                   arg_max({capture}, [(year(captured_at) = y)::INTEGER, epoch_us(captured_at)])
                       FILTER (WHERE status_code BETWEEN 200 AND 299) AS ok,
                   arg_max({capture}, [(year(captured_at) = y)::INTEGER, epoch_us(captured_at)])
                       FILTER (WHERE status_code >= 400) AS bad
            FROM (SELECT *, {years_of("captured_at")} AS y FROM web_archive_captures)
            GROUP BY url, y""",
        # Per URL, the archive's last answer: an error there explains why nothing was captured.
        """CREATE OR REPLACE TEMP TABLE _c_archive_asked AS
           SELECT url, arg_max(ok, asked_at) AS ok, arg_max(error, asked_at) AS error
           FROM web_archive_queries GROUP BY url""",
        # Per service: the repository's visibility at the latest forge fetch (any year's row of that fetch), and
        # how many checks of each kind were made.
        f"""CREATE OR REPLACE TEMP VIEW _c_startup AS
            WITH forge AS (
                -- The latest fetch, then the last row written; a NULL date comes first, as Python's ''.
                SELECT startup_id, {forge_columns} FROM _c_activity GROUP BY startup_id
            ), latest AS (
                SELECT startup_id, count(*) FILTER (WHERE kind = 'repository') AS repo_checks,
                       max(checked_at) FILTER (WHERE kind = 'repository') AS repo_latest_at,
                       count(*) FILTER (WHERE kind = 'stats_url') AS stats_checks,
                       max(checked_at) FILTER (WHERE kind = 'stats_url') AS stats_latest_at
                FROM stats_page_checks GROUP BY startup_id
            )
            SELECT coalesce(f.startup_id, l.startup_id) AS startup_id,
                   f.startup_id IS NOT NULL AS f_found, f.f_repo, f.f_forge, f.f_public, f.f_status, f.f_fetched_at,
                   l.repo_checks, l.repo_latest_at, l.stats_checks, l.stats_latest_at
            FROM forge f FULL JOIN latest l ON l.startup_id = f.startup_id""",
    ]
    for statement in statements:
        con.execute(statement)


def _declared_sql(keys: str) -> str:
    """Per (year, service) of `keys`: the declarations of the latest registry document observed in the year's window
    that lists the service, as the struct `doc`; no row when no such document exists."""
    return f"""
        SELECT y.year, d.startup_id,
               arg_max({{'observed_at': o.observed_at, 'stats_url': d.stats_url, 'repository': d.repository,
                        'contact': d.contact, 'access': d.accessibility_status, 'sha256': d.sha256}},
                            o.observed_at) AS doc
        FROM (SELECT DISTINCT year FROM {keys}) y
        JOIN _c_registry_obs o ON _c_valid(y.year, o.observed_at)
        JOIN _c_documents d ON d.sha256 = o.sha256
        WHERE d.startup_id IN (SELECT startup_id FROM {keys})
        GROUP BY y.year, d.startup_id"""


# --- the six sub-criteria, as decision lists ------------------------------------------------------


class _Sub:
    """A sub-criterion as ordered branches (condition, verdict, reason, shape): the first true condition decides.

    `decide()` is one CASE giving the struct {v: verdict, r: reason, s: shape}, so each condition is evaluated
    once per row. `shape` says which values the evidence carries on that branch (`shapes`: shape → [(key, SQL)]).
    """

    def __init__(
        self,
        name: str,
        branches: list[tuple[str, str, str, int]],
        shapes: dict[int, list[tuple[str, str]]],
        weak_shape: int | None = None,
    ):
        self.name, self.branches, self.shapes, self.weak_shape = name, branches, shapes, weak_shape
        self.v, self.r, self.s = (f"b.{name}.{f}" for f in "vrs")

    def decide(self) -> str:
        def outcome(verdict: str, reason: str, shape: int) -> str:
            return f"{{'v': CAST({verdict} AS VARCHAR), 'r': CAST({reason} AS VARCHAR), 's': {shape}::TINYINT}}"

        whens = " ".join(f"WHEN {cond} THEN {outcome(v, r, s)}" for cond, v, r, s in self.branches[:-1])
        return f"CASE {whens} ELSE {outcome(*self.branches[-1][1:])} END"

    def weak(self) -> str:
        return "FALSE" if self.weak_shape is None else f"({self.s} = {self.weak_shape})"

    def evidence(self) -> str:
        """The evidence object as JSON text: `to_json` of one struct per shape, keys in a fixed order."""
        head = f"'verdict': {self.v}, 'reason': {self.r}, 'weak': {self.weak()}"
        whens = " ".join(
            f"WHEN {shape} THEN to_json({{{head}{''.join(f', {_lit(k)}: {e}' for k, e in values)}}})"
            for shape, values in self.shapes.items()
        )
        return f"CASE {self.s} {whens} END"


def _check_struct(chk: str) -> str:
    return (
        f"CASE WHEN {chk}.checked_at IS NOT NULL THEN {{'url': {chk}.url, 'status_code': {chk}.status_code, "
        f"'ok': {chk}.ok, 'final_url': {chk}.final_url, 'checked_at': _c_day({chk}.checked_at), "
        f"'error': {chk}.error}} END"
    )


def _sub_criteria(rules: CriterionC) -> list[_Sub]:
    """The six sub-criteria over the base row `b` (one service-year with everything it needs joined)."""
    subs = rules.sub_criteria
    pass_, fail, unknown, na = (_lit(v) for v in (PASS, FAIL, UNKNOWN, NA))
    # Registry-derived reasons name the document they read and its date; without one, the window is named.
    no_document = _cat("'no registry document of '", "_c_window(b.year)", "' lists the service'")
    registry = lambda *parts: _cat("'registry of '", "b.registry_day", "': '", *parts)  # noqa: E731

    goals_min = subs.observatoire_goals.min_goals_reached
    goals_text = (
        "CAST(b.goals_reached AS VARCHAR)",
        "' of the 5 headline goals reached in '",
        "_c_str(b.edition)",
        "' ('",
        "CAST(b.goals_total AS VARCHAR)",
        "' known)'",
    )
    observatoire_goals = _Sub(
        "observatoire_goals",
        [
            (
                "NOT b.have_observatoire",
                unknown,
                _lit("no observatoire data was loaded (source disabled or unreachable)"),
                0,
            ),
            ("NOT b.in_observatoire", na, _cat("'not in the observatoire''s '", "b.year_text", "' editions'"), 0),
            (f"b.goals_reached >= {goals_min}", pass_, _cat(*goals_text), 1),
            (
                f"b.goals_reached + ({len(HEADLINE)} - b.goals_total) < {goals_min}",
                fail,
                _cat(*goals_text, f"', fewer than {goals_min}'"),
                1,
            ),
            (
                "TRUE",
                unknown,
                _cat(*goals_text, f"': too many placeholders to tell whether {goals_min} are reached'"),
                1,
            ),
        ],
        {
            0: [],
            1: [
                ("edition", "b.edition"),
                ("goals_reached", "b.goals_reached::INTEGER"),
                ("goals_known", "b.goals_total::INTEGER"),
                ("goals", "{" + ", ".join(f"{_lit(g)}: b.{g}_goal" for g in HEADLINE) + "}"),
                ("procedure_ids", "coalesce(b.procedure_ids, []::VARCHAR[])"),
                ("evidence_url", "b.evidence_url"),
                ("min_goals_reached", str(goals_min)),
            ],
        },
    )

    rule = subs.accessibility
    passing = "[" + ", ".join(_lit(str(s).lower()) for s in rule.passing_statuses) + "]::VARCHAR[]"
    accessibility = _Sub(
        "accessibility",
        [
            ("NOT b.registry_valid", unknown, no_document, 1),
            (
                "b.access_blank AND NOT b.access_in_use",
                unknown,
                registry("'no service declares an accessibility status yet (the field was not in use)'"),
                1,
            ),
            ("b.access_blank", _lit(rule.missing_verdict), registry("'no accessibility status declared'"), 1),
            (f"list_contains({passing}, b.access_norm)", pass_, registry("'accessibility '''", "b.access", "''''"), 1),
            ("b.access_norm = 'non conforme'", fail, registry("'accessibility '''", "b.access", "''''"), 1),
            ("TRUE", unknown, registry("'accessibility status '''", "b.access", "''' is not a known level'"), 1),
        ],
        {
            1: [
                ("accessibility_status", "CASE WHEN b.access_blank THEN NULL ELSE b.access END"),
                ("as_of", "b.registry_day"),
            ]
        },
    )

    commits_min = subs.product_evolving.min_commits
    on_repo = ("' in '", "b.year_text", "' on '", "_c_str(b.a_repo)")
    archived = "CASE WHEN coalesce(b.a_archived, FALSE) THEN ', archived' ELSE '' END"
    frozen = (
        "(coalesce(b.a_archived, FALSE) AND b.a_last_push IS NOT NULL "
        "AND CAST(b.a_last_push AS DATE) < make_date(b.year, 1, 1))"
    )
    product_evolving = _Sub(
        "product_evolving",
        [
            ("NOT b.registry_valid", unknown, no_document, 0),
            ("b.repo_blank", unknown, registry("'no repository declared, so no activity to read'"), 0),
            ("NOT b.in_activity", unknown, _cat("'repository activity was not fetched for '", "b.year_text"), 0),
            # Commits count on the repository the year's registry declared, not on one declared later.
            (
                "NOT contains(lower(b.repository), lower(b.a_repo))",
                unknown,
                _cat(
                    "'commits were read on '",
                    "_c_str(b.a_repo)",
                    "', not on the repository declared in the registry of '",
                    "b.registry_day",
                    "' ('",
                    "b.repo_short",
                    "')'",
                ),
                1,
            ),
            (
                "b.a_commits IS NULL",
                unknown,
                _cat(
                    "'commits'",
                    *on_repo,
                    "' unknown ('",
                    "_c_str(b.a_status)",
                    "': '",
                    "_c_str(coalesce(nullif(b.a_reason, ''), b.a_status))",
                    "')'",
                ),
                1,
            ),
            # An owner's address (organisation, user, group): its other products may be the ones evolving.
            (
                f"b.a_commits >= {commits_min} AND b.a_scope = 'owner'",
                pass_,
                _cat(
                    "CASE WHEN coalesce(b.a_lower_bound, FALSE) THEN 'at least ' ELSE '' END",
                    "CAST(b.a_commits AS VARCHAR)",
                    "' commits'",
                    "' in '",
                    "b.year_text",
                    "' over the public repositories of '",
                    "_c_str(b.a_repo)",
                    "' (weak signal: the owner may host other products)'",
                ),
                2,
            ),
            (
                f"b.a_commits >= {commits_min}",
                pass_,
                _cat(
                    "CASE WHEN coalesce(b.a_lower_bound, FALSE) THEN 'at least ' ELSE '' END",
                    "CAST(b.a_commits AS VARCHAR)",
                    "' commits'",
                    *on_repo,
                ),
                1,
            ),
            (
                f"year(b.a_fetched_at) = b.year AND NOT {frozen}",
                unknown,
                _cat("'no commit yet'", *on_repo, "', a year not over'"),
                1,
            ),
            (
                "TRUE",
                fail,
                _cat(
                    "CAST(b.a_commits AS VARCHAR)",
                    "' commits'",
                    *on_repo,
                    "CASE WHEN b.a_last_push IS NOT NULL THEN concat(' (last push ', "
                    f"_c_day(b.a_last_push), {archived}, ')') "
                    f"ELSE {archived} END",
                ),
                1,
            ),
        ],
        {
            0: [],
            **{
                shape: [
                    ("repo", "b.a_repo"),
                    ("commits_in_year", "b.a_commits"),
                    ("last_push", "_c_day(b.a_last_push)"),
                    ("archived", "b.a_archived"),
                    ("status", "b.a_status"),
                    ("api_url", "b.a_api_url"),
                ]
                for shape in (1, 2)
            },
        },
        weak_shape=2,
    )

    rule = subs.resources_shared
    forge_valid = "(b.f_found AND _c_valid(b.year, b.f_fetched_at))"
    checked = "b.repo_chk.checked_at IS NOT NULL"
    # The forge's word comes before the URL check's, the check's before the archive's; anything positive before
    # anything negative.
    resources_shared = _Sub(
        "resources_shared",
        [
            ("NOT b.registry_valid", unknown, no_document, 0),
            (
                "b.repo_blank",
                _lit(rule.no_repository_verdict),
                registry("'no repository declared (open data and API declarations are not in the registry)'"),
                0,
            ),
            (
                "NOT b.repo_web",
                fail,
                registry("'the declared repository '''", "b.repo_short", "''' is not a web address'"),
                1,
            ),
            (
                f"{forge_valid} AND b.f_public IS TRUE",
                pass_,
                _cat(
                    "_c_str(b.f_repo)",
                    "' is public on '",
                    "_c_str(b.f_forge)",
                    "' (checked '",
                    "_c_day(b.f_fetched_at)",
                    "')'",
                ),
                2,
            ),
            (
                f"{checked} AND b.repo_chk.ok",
                pass_,
                _cat(
                    "_c_str(b.repo_chk.url)",
                    "' answered HTTP '",
                    "_c_str(b.repo_chk.status_code)",
                    "' on '",
                    "_c_day(b.repo_chk.checked_at)",
                ),
                2,
            ),
            ("b.repo_capture_ok IS NOT NULL", pass_, _captured("b.repository_key", "b.repo_capture_ok"), 2),
            (
                f"{forge_valid} AND b.f_public IS FALSE",
                fail,
                _cat("_c_str(b.f_repo)", "' is private on '", "_c_str(b.f_forge)"),
                2,
            ),
            (
                f"{forge_valid} AND b.f_public IS NULL AND b.f_status = 'not_found'",
                fail,
                _cat("_c_str(b.f_forge)", "' does not show '", "_c_str(b.f_repo)", "' publicly (HTTP 404)'"),
                2,
            ),
            (
                checked,
                fail,
                _cat(
                    "_c_str(b.repo_chk.url)",
                    "' did not answer on '",
                    "_c_day(b.repo_chk.checked_at)",
                    "' ('",
                    "_c_str(b.repo_chk.error)",
                    "')'",
                ),
                2,
            ),
            (
                "b.repo_capture_bad IS NOT NULL",
                fail,
                _cat(
                    _captured("b.repository_key", "b.repo_capture_bad"),
                    "', and no capture answering in '",
                    "_c_window(b.year)",
                ),
                2,
            ),
            (
                "TRUE",
                unknown,
                _cat(
                    "'no forge answer, check or web archive capture of the repository in '",
                    "_c_window(b.year)",
                    _archive_note("b.repo_asked_ok", "b.repo_asked_error"),
                ),
                2,
            ),
        ],
        {
            0: [],
            1: [("repository", "b.repository")],
            2: [
                ("repository", "b.repository"),
                ("repository_check", _check_struct("b.repo_chk")),
                ("forge_public", "b.f_public"),
                ("capture", _capture_struct("b.repo_capture_ok", "b.repo_capture_bad")),
            ],
        },
    )

    rule = subs.impact_statistics
    checked = "b.stats_chk.checked_at IS NOT NULL"
    where = (
        "CASE WHEN b.stats_chk.final_url IS NOT NULL AND b.stats_chk.final_url <> '' "
        "AND b.stats_chk.final_url IS DISTINCT FROM b.stats_chk.url THEN concat(', ending at ', b.stats_chk.final_url) "
        "ELSE '' END"
    )
    stats_url = [("stats_url", "CASE WHEN b.stats_blank THEN NULL ELSE b.stats_url END")]
    impact_statistics = _Sub(
        "impact_statistics",
        [
            ("NOT b.registry_valid", unknown, no_document, 0),
            ("b.stats_blank", _lit(rule.missing_verdict), registry("'no stats page declared'"), 1),
            (
                "NOT b.stats_web",
                fail,
                registry("'the declared stats page '''", "b.stats_short", "''' is not a web address'"),
                1,
            ),
            (
                f"{checked} AND b.stats_chk.ok",
                pass_,
                _cat(
                    "_c_str(b.stats_chk.url)",
                    "' answered HTTP '",
                    "_c_str(b.stats_chk.status_code)",
                    "' on '",
                    "_c_day(b.stats_chk.checked_at)",
                    where,
                ),
                2,
            ),
            ("b.stats_capture_ok IS NOT NULL", pass_, _captured("b.stats_key", "b.stats_capture_ok"), 2),
            (
                checked,
                fail,
                _cat(
                    "_c_str(b.stats_chk.url)",
                    "' did not answer on '",
                    "_c_day(b.stats_chk.checked_at)",
                    "' ('",
                    "_c_str(b.stats_chk.error)",
                    "')'",
                ),
                2,
            ),
            (
                "b.stats_capture_bad IS NOT NULL",
                fail,
                _cat(
                    _captured("b.stats_key", "b.stats_capture_bad"),
                    "', and no capture answering in '",
                    "_c_window(b.year)",
                ),
                2,
            ),
            (
                "TRUE",
                unknown,
                _cat(
                    "'no check or web archive capture of the stats page in '",
                    "_c_window(b.year)",
                    _archive_note("b.stats_asked_ok", "b.stats_asked_error"),
                ),
                2,
            ),
        ],
        {
            0: [],
            1: stats_url,
            2: [
                *stats_url,
                ("check", _check_struct("b.stats_chk")),
                ("capture", _capture_struct("b.stats_capture_ok", "b.stats_capture_bad")),
            ],
        },
    )

    rule = subs.team_answering
    help_min = rule.min_help_reachable
    measured = "(b.help_reachable IS NOT NULL AND NOT isnan(b.help_reachable))"
    measure_text = (
        "'the observatoire measured '",
        "format('{:g}', b.help_reachable)",
        "' % of users reaching help in '",
        "_c_str(b.edition)",
    )
    team_answering = _Sub(
        "team_answering",
        [
            (f"{measured} AND b.help_reachable >= {help_min!r}::DOUBLE", pass_, _cat(*measure_text), 1),
            (measured, fail, _cat(*measure_text, _lit(f", under {help_min:g} %")), 1),
            ("NOT b.registry_valid", unknown, no_document, 2),
            ("b.contact_blank", unknown, registry("'no help reachability measured and no contact declared'"), 2),
            (
                "TRUE",
                pass_ if rule.weak_signals_pass else unknown,
                registry("'a contact is declared (weak signal: no measured help reachability)'"),
                2,
            ),
        ],
        {
            1: [
                ("help_reachable", "b.help_reachable::DOUBLE"),
                ("min_help_reachable", f"{help_min!r}::DOUBLE"),
                ("edition", "b.edition"),
                ("evidence_url", "b.evidence_url"),
            ],
            2: [("contact_declared", "NOT b.contact_blank"), ("as_of", "b.registry_day")],
        },
        weak_shape=2,
    )

    return [observatoire_goals, accessibility, product_evolving, resources_shared, impact_statistics, team_answering]


def _captured(url: str, capture: str) -> str:
    """'<url> captured answering HTTP 200 on 2023-05-14 (web archive: <link>)'."""
    return _cat(
        f"_c_str({url})",
        "' captured answering HTTP '",
        f"_c_str({capture}.status)",
        "' on '",
        f"_c_day({capture}.at)",
        "' (web archive: '",
        f"{capture}.link",
        "')'",
    )


def _capture_struct(ok: str, bad: str) -> str:
    chosen = f"coalesce({ok}, {bad})"
    return (
        f"CASE WHEN {chosen} IS NOT NULL THEN {{'captured_at': _c_day({chosen}.at), 'status_code': {chosen}.status, "
        f"'capture_url': {chosen}.link}} END"
    )


def _archive_note(asked_ok: str, error: str) -> str:
    """Why the archive has nothing, when it says so: never asked, or its last answer failed."""
    return (
        f"CASE WHEN {asked_ok} IS NULL THEN ' (the web archive was not asked about it)' "
        f"WHEN NOT {asked_ok} THEN concat(' (the web archive did not answer: ', _c_str({error}), ')') ELSE '' END"
    )


def _combine(subs: list[_Sub], required: list[str], no_source_reason: str) -> tuple[str, str]:
    """(verdict, reason) of (c): fails when one sub-criterion fails, passes when every required one passes."""
    by = {s.name: s for s in subs}
    any_failing = " OR ".join(f"{by[n].v} = 'fail'" for n in SUB_CRITERIA)
    any_missing = " OR ".join(f"{by[n].v} IS DISTINCT FROM 'pass'" for n in required) or "FALSE"
    failing = ", ".join(
        f"CASE WHEN {by[n].v} = 'fail' THEN concat({_lit(LABELS[n] + ': ')}, {by[n].r}) END" for n in SUB_CRITERIA
    )
    missing = (
        ", ".join(
            f"CASE WHEN {by[n].v} IS DISTINCT FROM 'pass' THEN concat({_lit(LABELS[n] + ': ')}, {by[n].r}) END"
            for n in required
        )
        or "NULL"
    )
    weak = [f"CASE WHEN {by[n].weak()} THEN {_lit(LABELS[n])} END" for n in required if by[n].weak_shape is not None]
    listed = f"concat_ws(', ', {', '.join(weak)})"
    weak_note = (
        f"CASE WHEN {listed} <> '' THEN concat(' (', {listed}, ' on a weak signal)') ELSE '' END" if weak else "''"
    )
    verdict = f"CASE WHEN {any_failing} THEN 'fail' WHEN {any_missing} THEN 'unknown' ELSE 'pass' END"
    reason = (
        f"CASE WHEN {any_failing} THEN concat('(c) fails: ', concat_ws('; ', {failing}), '.') "
        f"WHEN {any_missing} THEN concat('(c) unknown: ', "
        f"CASE WHEN b.no_source THEN concat({_lit(no_source_reason + ' (')}, b.no_source_detail, '); ') ELSE '' END, "
        f"'no sub-criterion fails but required ones lack evidence (', concat_ws('; ', {missing}), ').') "
        f"ELSE concat('(c) pass: no sub-criterion fails and every required one passes', {weak_note}, '.') END"
    )
    return verdict, reason


def criterion_c_sql(con, keys: str, config: CriteriaConfig) -> str:
    """One SELECT judging (c) for every row of the `keys` table (year INTEGER, startup_id VARCHAR).

    Prepares `_c_*` temp tables, views and macros on `con` (idempotent), then returns a statement yielding
    `year, startup_id, criterion ('c'), verdict, reason, evidence JSON`, one row per key. The evidence
    object holds `source`, `sub_criteria` (name → verdict, reason, weak and the values read), `required`
    and `registry_as_of` (the date of the registry document the year read, NULL when none lists the service).
    """
    rules = config.criteria.c
    _prepare(con, rules)
    subs = _sub_criteria(rules)
    decisions = ", ".join(f"{s.decide()} AS {s.name}" for s in subs)
    verdict, reason = _combine(subs, rules.required, rules.no_source_reason)
    # The evidence object as text in one `concat`, then JSON (nested `json_object` re-parses its arguments).
    sub_evidence = ", ',', ".join(f"{_lit(json.dumps(s.name) + ':')}, {s.evidence()}" for s in subs)
    required = _lit(json.dumps(list(rules.required), separators=(",", ":")))
    evidence = (
        f"""concat('{{"source":"quality","sub_criteria":{{', {sub_evidence}, '}},"required":', {required}, """
        f"""',"registry_as_of":', coalesce(to_json(registry_day), 'null'), '}}')"""
    )
    strip = f"trim(dc.doc.{{}}, {WHITESPACE_SQL})"
    # `d` is MATERIALIZED so that each decision, read several times, is computed once; with a single
    # consumer DuckDB streams it (nothing is buffered).
    return f"""
        WITH dc AS ({_declared_sql(keys)}),
        b AS (
            SELECT k.year::INTEGER AS year, k.startup_id::VARCHAR AS startup_id, CAST(k.year AS VARCHAR) AS year_text,
                   x.have_observatoire, x.no_source, x.no_source_detail,
                   dc.doc IS NOT NULL AS registry_valid, _c_day(dc.doc.observed_at) AS registry_day,
                   _c_blank(dc.doc.stats_url) AS stats_blank, _c_is_web(dc.doc.stats_url) AS stats_web,
                   dc.doc.stats_url AS stats_url, left(dc.doc.stats_url, 60) AS stats_short,  -- code points, as Python
                   {strip.format("stats_url")} AS stats_key,
                   _c_blank(dc.doc.repository) AS repo_blank, _c_is_web(dc.doc.repository) AS repo_web,
                   dc.doc.repository AS repository, left(dc.doc.repository, 60) AS repo_short,
                   {strip.format("repository")} AS repository_key,
                   _c_blank(dc.doc.contact) AS contact_blank,
                   dc.doc.access AS access, coalesce(ta.is_blank, TRUE) AS access_blank, ta.norm AS access_norm,
                   dc.doc.sha256 IN (SELECT sha256 FROM _c_access_in_use) AS access_in_use,
                   o.startup_id IS NOT NULL AS in_observatoire, o.edition, o.goals_reached, o.goals_total,
                   {", ".join(f"o.{g}_goal" for g in HEADLINE)}, o.procedure_ids, o.evidence_url,
                   o.help_reachable::DOUBLE AS help_reachable,
                   a.startup_id IS NOT NULL AS in_activity, a.repo AS a_repo, a.commits_in_year AS a_commits,
                   a.commits_is_lower_bound AS a_lower_bound, a.last_push AS a_last_push, a.archived AS a_archived,
                   a.status AS a_status, a.reason AS a_reason, a.scope AS a_scope, a.fetched_at AS a_fetched_at,
                       a.api_url AS a_api_url,
                   coalesce(s.f_found, FALSE) AS f_found, s.f_repo, s.f_forge, s.f_public, s.f_status, s.f_fetched_at,
                   n.repo_chk, n.stats_chk,
                   ws.ok AS stats_capture_ok, ws.bad AS stats_capture_bad, qs.ok AS stats_asked_ok,
                       qs.error AS stats_asked_error,
                   wr.ok AS repo_capture_ok, wr.bad AS repo_capture_bad, qr.ok AS repo_asked_ok,
                       qr.error AS repo_asked_error
            FROM {keys} k
            CROSS JOIN _c_context x
            LEFT JOIN dc ON dc.startup_id = k.startup_id AND dc.year = k.year
            LEFT JOIN _c_access ta ON ta.value = dc.doc.access
            LEFT JOIN _c_startup s ON s.startup_id = k.startup_id
            LEFT JOIN _c_observatoire o ON o.startup_id = k.startup_id AND o.year = k.year
            LEFT JOIN _c_activity a ON a.startup_id = k.startup_id AND a.year = k.year
            LEFT JOIN _c_check_near n ON n.startup_id = k.startup_id AND n.year = k.year
            LEFT JOIN _c_captures ws ON ws.url = {strip.format("stats_url")} AND ws.year = k.year
            LEFT JOIN _c_archive_asked qs ON qs.url = {strip.format("stats_url")}
            LEFT JOIN _c_captures wr ON wr.url = {strip.format("repository")} AND wr.year = k.year
            LEFT JOIN _c_archive_asked qr ON qr.url = {strip.format("repository")}
        ), d AS MATERIALIZED (
            SELECT b.*, {decisions} FROM b
        )
        SELECT year, startup_id, 'c' AS criterion, {verdict} AS verdict, {reason} AS reason,
            ({evidence})::JSON AS evidence
        FROM d AS b
    """


def criterion_c(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """`criterion_c_sql` over a frame of keys (year, startup_id): rows in the keys' order, evidence as dicts."""
    import pandas as pd

    years, ids = [int(y) for y in keys["year"]], [str(s) for s in keys["startup_id"]]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _c_keys AS SELECT unnest(?::INTEGER[]) AS year, "
        "unnest(?::VARCHAR[]) AS startup_id, unnest(?::BIGINT[]) AS position",
        [years, ids, list(range(len(ids)))],
    )
    con.execute("CREATE OR REPLACE TEMP VIEW _c_keys_distinct AS SELECT DISTINCT year, startup_id FROM _c_keys")
    sql = criterion_c_sql(con, "_c_keys_distinct", config)
    rows = con.execute(
        f"SELECT c.* FROM ({sql}) c JOIN _c_keys k USING (year, startup_id) ORDER BY k.position"
    ).fetchall()
    return pd.DataFrame([(*r[:5], json.loads(r[5])) for r in rows], columns=list(COLUMNS))
