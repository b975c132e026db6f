"""Criterion (c), quality standards, as one DuckDB SELECT over the quality tables.

Six named sub-criteria, each `pass` / `fail` / `unknown` / `not_applicable` with a reason and its evidence;
rules and thresholds come from `criteria.c` in the criteria config. (c) is `pass` only when no
sub-criterion fails and every required one passes; `fail` when one fails; `unknown` otherwise.

Evidence observed "now" (registry declarations, stats page and repository checks, repository visibility)
counts for the year it was observed in, and for the previous year when observed in the first months of
the next (`current_checks.valid_into_next_year_months`); earlier years are `unknown` for those
sub-criteria. Commits are dated, so repository activity is judged for any year.

Python only turns the config into SQL and classifies the registry's distinct texts (blank, web address)
by the same rules as the URL checks; every service-year is judged in SQL.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas stays out of the code location's import time
    import pandas as pd

    from impact_pipeline.defs.impact.criteria_config import CriteriaConfig

# Asset keys criterion (c) reads; the yearly evaluation depends on them.
DEPS: list[str] = ["startup_observatoire", "repository_activity", "stats_page_checks"]

PASS, FAIL, UNKNOWN, NA = "pass", "fail", "unknown", "not_applicable"
SUB_CRITERIA = (
    "observatoire_goals",
    "accessibility",
    "product_evolving",
    "resources_shared",
    "impact_statistics",
    "team_answering",
)
LABELS = {
    "observatoire_goals": "observatoire goals",
    "accessibility": "accessibility",
    "product_evolving": "product evolving",
    "resources_shared": "resources shared",
    "impact_statistics": "impact statistics online",
    "team_answering": "team answering users",
}
DEFAULTS: dict[str, Any] = {
    "required": ["accessibility", "product_evolving", "resources_shared", "impact_statistics", "team_answering"],
    "current_checks": {"valid_into_next_year_months": 6, "apply_to_past_years": False},
    "sub_criteria": {
        "observatoire_goals": {"min_goals_reached": 3},
        "accessibility": {"passing_statuses": ["totalement conforme", "partiellement conforme"], "missing_verdict": FAIL},
        "product_evolving": {"min_commits": 1},
        "resources_shared": {"no_repository_verdict": UNKNOWN},
        "impact_statistics": {"missing_verdict": FAIL},
        "team_answering": {"min_help_reachable": 85, "weak_signals_pass": True},
    },
}
HEADLINE = ("satisfaction", "handicap", "dlnuf", "auth", "simplicity")
COLUMNS = ("year", "startup_id", "criterion", "verdict", "reason", "evidence")


def rules_from(raw: dict[str, Any]) -> dict[str, Any]:
    """`criteria.c` of the config over the defaults (a missing key keeps its default)."""
    section = ((raw or {}).get("criteria") or {}).get("c") or {}
    rules = {
        "required": list(section.get("required", DEFAULTS["required"])),
        "current_checks": {**DEFAULTS["current_checks"], **(section.get("current_checks") or {})},
        "sub_criteria": {k: {**v, **((section.get("sub_criteria") or {}).get(k) or {})} for k, v in DEFAULTS["sub_criteria"].items()},
    }
    unknown = [r for r in rules["required"] if r not in SUB_CRITERIA]
    if unknown:
        raise ValueError(f"criteria.c.required names unknown sub-criteria: {unknown} (known: {', '.join(SUB_CRITERIA)})")
    return rules


def _lit(value: Any) -> str:
    from impact_pipeline.lib.sql import sql_literal

    return sql_literal(value)


def _cat(*parts: str) -> str:
    # One `concat` per text: a chain of `||` copies the growing string at every step.
    return f"concat({', '.join(parts)})"


# --- preparation: small tables and macros on the connection ---------------------------------------

@functools.cache
def _whitespace_sql() -> str:
    """The characters Python's `str.strip()` removes, as a SQL expression (all of them are in the BMP)."""
    return "concat(" + ", ".join(f"chr({c})" for c in range(0x10000) if chr(c).isspace()) + ")"


def _classify_registry_text(con) -> None:
    """`_c_web_urls` and `_c_access`: what SQL alone cannot tell as Python would, over distinct registry values.

    A web address is what `public_http_url` accepts (the one rule of the URL checks and the fetches, lib/urls):
    every distinct value mentioning http is asked to it, and those it accepts land in `_c_web_urls`.
    Accessibility levels are compared as `str.strip().lower()`.
    """
    from impact_pipeline.lib.urls import public_http_url

    asked = [v for (v,) in con.execute("""
        SELECT DISTINCT value FROM (SELECT unnest([stats_url, repository]) AS value FROM startups)
        WHERE regexp_matches(value, '[Hh][Tt][Tt][Pp]')""").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE _c_web_urls AS SELECT unnest(?::VARCHAR[]) AS url",
                [[v for v in asked if public_http_url(v) is not None]])
    levels = [v for (v,) in con.execute(
        "SELECT DISTINCT accessibility_status FROM startups WHERE accessibility_status IS NOT NULL").fetchall()]
    con.execute("""CREATE OR REPLACE TEMP TABLE _c_access AS
                   SELECT unnest(?::VARCHAR[]) AS value, unnest(?::BOOLEAN[]) AS is_blank, unnest(?::VARCHAR[]) AS norm""",
                [levels, [not v.strip() for v in levels], [v.strip().lower() for v in levels]])


# A stats_page_checks row as the struct its evidence shows.
_CHECK = "{'url': url, 'status_code': status_code, 'ok': ok, 'final_url': final_url, 'checked_at': checked_at, 'error': error}"


def _prepare(con, rules: dict[str, Any]) -> None:
    """The `_c_*` macros, small tables (per service, run-wide) and views (per service-year) the SELECT reads."""
    checks = rules["current_checks"]
    months, past = int(checks.get("valid_into_next_year_months", 6)), bool(checks.get("apply_to_past_years", False))
    _classify_registry_text(con)
    # (startup_id, year) is repository_activity's key (its asset rewrites whole years); should a key be
    # repeated anyway, its last row wins, in the place of its first one, as in a dict keyed by it (the
    # place breaks ties between equal fetch times). Checking is cheaper than always deduplicating.
    repeated = con.execute("SELECT count(*) > count(DISTINCT (startup_id, year)) FROM repository_activity").fetchall()[0][0]
    activity = ("SELECT *, min(rowid) OVER (PARTITION BY startup_id, year) AS row FROM repository_activity "
                "QUALIFY row_number() OVER (PARTITION BY startup_id, year ORDER BY rowid DESC) = 1" if repeated
                else "SELECT *, rowid AS row FROM repository_activity")
    statements = [
        # Whether something observed on `day` is evidence for year `y` (config `current_checks`).
        f"""CREATE OR REPLACE TEMP MACRO _c_valid(y, day) AS coalesce(
                year(day) = y OR (year(day) = y + 1 AND month(day) <= {months}) OR ({_lit(past)} AND year(day) > y), FALSE)""",
        "CREATE OR REPLACE TEMP MACRO _c_day(day) AS CAST(CAST(day AS DATE) AS VARCHAR)",
        # Order by time, then by row (the last written wins a tie), as one number: arg_max is fastest on it.
        """CREATE OR REPLACE TEMP MACRO _c_latest(moment, position) AS
               coalesce(epoch_us(moment), -4611686018427387904)::HUGEINT * 1099511627776 + position""",
        # Blank as Python's `not value.strip()` (NULL too); a web address as `public_http_url` (see `_c_web_urls`).
        f"CREATE OR REPLACE TEMP MACRO _c_blank(text) AS coalesce(trim(text, {_whitespace_sql()}) = '', TRUE)",
        """CREATE OR REPLACE TEMP MACRO _c_is_web(text) AS coalesce(text IN (SELECT url FROM _c_web_urls), FALSE)""",
        # A value as Python's f-strings print it (None for NULL).
        "CREATE OR REPLACE TEMP MACRO _c_str(x) AS coalesce(CAST(x AS VARCHAR), 'None')",
        f"""CREATE OR REPLACE TEMP MACRO _c_too_old(what, day, y) AS
                {_cat("what", "' was observed on '", "coalesce(_c_day(day), 'an unknown date')",
                      "', which is no evidence for '", "y")}""",
        # Run-wide facts: the registry fetch date, and whether any quality source is connected at all.
        """CREATE OR REPLACE TEMP TABLE _c_context AS
           SELECT (SELECT max(fetched_at) FROM registry_raw) AS registry_at,
                  _c_day((SELECT max(fetched_at) FROM registry_raw)) AS registry_day,
                  (SELECT count(*) FROM observatoire_procedures) > 0 AS have_observatoire,
                  NOT (SELECT count(*) FROM observatoire_procedures) > 0
                  AND NOT EXISTS (SELECT 1 FROM repository_activity
                                  WHERE status IS NULL OR status NOT IN ('disabled', 'unsupported'))
                  AND NOT EXISTS (SELECT 1 FROM stats_page_checks) AS no_source,
                  -- Which source gave nothing, said in the reason (a count of 0 must not read as a finding).
                  concat_ws('; ',
                      CASE WHEN NOT (SELECT count(*) FROM observatoire_procedures) > 0
                           THEN 'observatoire: no data (disabled or unreachable)' END,
                      (SELECT 'forges: ' || string_agg(DISTINCT forge || ' ' || status, ', ' ORDER BY forge || ' ' || status)
                       FROM repository_activity WHERE status IN ('disabled', 'unsupported')),
                      CASE WHEN NOT EXISTS (SELECT 1 FROM repository_activity) THEN 'forges: no repository read' END,
                      CASE WHEN NOT EXISTS (SELECT 1 FROM stats_page_checks)
                           THEN 'stats page checks: none made (disabled or no page declared)' END) AS no_source_detail""",
        # One row per (service, year) of each yearly source (the last row wins, as a dict keyed by it would).
        # Views: each is read once by the SELECT, so nothing is written ahead.
        """CREATE OR REPLACE TEMP VIEW _c_observatoire AS
           SELECT * FROM startup_observatoire
           QUALIFY row_number() OVER (PARTITION BY startup_id, year ORDER BY rowid DESC) = 1""",
        f"CREATE OR REPLACE TEMP VIEW _c_activity AS {activity}",
        # A check as the struct the evidence shows (picked by rowid: arg_max of a struct is much slower).
        f"""CREATE OR REPLACE TEMP VIEW _c_check AS
            SELECT rowid AS row, {_CHECK} AS chk FROM stats_page_checks""",
        # The latest check of each kind valid for a year when checks are not applied to past years: made
        # in the year, or early in the next one.
        f"""CREATE OR REPLACE TEMP VIEW _c_check_near AS
            SELECT g.startup_id, g.year, r.chk AS repo_chk, s.chk AS stats_chk
            FROM (SELECT startup_id, y AS year,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'repository') AS repo_row,
                         arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'stats_url') AS stats_row
                  FROM (SELECT startup_id, kind, checked_at, rowid,
                               unnest(CASE WHEN month(checked_at) <= {months} THEN [year(checked_at), year(checked_at) - 1]
                                           ELSE [year(checked_at)] END) AS y
                        FROM stats_page_checks WHERE checked_at IS NOT NULL)
                  GROUP BY startup_id, y) g
            LEFT JOIN _c_check r ON r.row = g.repo_row
            LEFT JOIN _c_check s ON s.row = g.stats_row""",
        # Per service (one row per registry id, the last wins): its classified declarations, the
        # repository's visibility at the latest forge fetch (any year's row of that fetch), and its checks
        # (the latest one itself only matters when checks apply to past years).
        f"""CREATE OR REPLACE TEMP VIEW _c_startup AS
            WITH forge AS (
                -- The latest fetch, then the last row written; a NULL date comes first, as Python's ''.
                SELECT startup_id, {", ".join(f"arg_max_null({f}, _c_latest(fetched_at, row)) AS f_{f}"
                                              for f in ("repo", "forge", "public", "status", "fetched_at"))}
                FROM _c_activity GROUP BY startup_id
            ), latest AS (
                SELECT startup_id, count(*) FILTER (WHERE kind = 'repository') AS repo_checks,
                       max(checked_at) FILTER (WHERE kind = 'repository') AS repo_latest_at,
                       arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'repository') AS repo_row,
                       count(*) FILTER (WHERE kind = 'stats_url') AS stats_checks,
                       max(checked_at) FILTER (WHERE kind = 'stats_url') AS stats_latest_at,
                       arg_max(rowid, _c_latest(checked_at, rowid)) FILTER (WHERE kind = 'stats_url') AS stats_row
                FROM stats_page_checks GROUP BY startup_id
            )
            SELECT s.startup_id,
                   s.stats_url, _c_blank(s.stats_url) AS stats_blank, _c_is_web(s.stats_url) AS stats_web,
                   left(s.stats_url, 60) AS stats_short,  -- code points, as Python slices
                   s.repository, _c_blank(s.repository) AS repo_blank, _c_is_web(s.repository) AS repo_web,
                   left(s.repository, 60) AS repo_short,
                   _c_blank(s.contact) AS contact_blank,
                   s.accessibility_status AS access, ta.is_blank AS access_blank, ta.norm AS access_norm,
                   f.startup_id IS NOT NULL AS f_found, f.f_repo, f.f_forge, f.f_public, f.f_status, f.f_fetched_at,
                   l.repo_checks, l.repo_latest_at, l.stats_checks, l.stats_latest_at,
                   {"rc.chk" if past else "NULL"} AS repo_latest, {"sc.chk" if past else "NULL"} AS stats_latest
            FROM (SELECT * FROM startups QUALIFY row_number() OVER (PARTITION BY startup_id ORDER BY rowid DESC) = 1) s
            LEFT JOIN _c_access ta ON ta.value = s.accessibility_status
            LEFT JOIN forge f ON f.startup_id = s.startup_id
            LEFT JOIN latest l ON l.startup_id = s.startup_id
            {"LEFT JOIN _c_check rc ON rc.row = l.repo_row LEFT JOIN _c_check sc ON sc.row = l.stats_row" if past else ""}""",
    ]
    for statement in statements:
        con.execute(statement)


# --- the six sub-criteria, as decision lists ------------------------------------------------------


class _Sub:
    """A sub-criterion as ordered branches (condition, verdict, reason, shape): the first true condition decides.

    `decide()` is one CASE giving the struct {v: verdict, r: reason, s: shape}, so each condition is evaluated
    once per row. `shape` says which values the evidence carries on that branch (`shapes`: shape → [(key, SQL)]).
    """

    def __init__(self, name: str, branches: list[tuple[str, str, str, int]], shapes: dict[int, list[tuple[str, str]]],
                 weak_shape: int | None = None):
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
    return (f"CASE WHEN {chk}.checked_at IS NOT NULL THEN {{'url': {chk}.url, 'status_code': {chk}.status_code, "
            f"'ok': {chk}.ok, 'final_url': {chk}.final_url, 'checked_at': _c_day({chk}.checked_at), "
            f"'error': {chk}.error}} END")


def _sub_criteria(rules: dict[str, Any]) -> list[_Sub]:
    """The six sub-criteria over the base row `b` (one service-year with everything it needs joined)."""
    subs = rules["sub_criteria"]
    pass_, fail, unknown, na = (_lit(v) for v in (PASS, FAIL, UNKNOWN, NA))
    too_old = lambda what, day: f"_c_too_old({_lit(what)}, {day}, b.year_text)"  # noqa: E731
    registry_too_old = lambda what: too_old(what, "b.registry_at")  # noqa: E731

    goals_min = int(subs["observatoire_goals"]["min_goals_reached"])
    goals_text = ("CAST(b.goals_reached AS VARCHAR)", "' of the 5 headline goals reached in '", "_c_str(b.edition)",
                  "' ('", "CAST(b.goals_total AS VARCHAR)", "' known)'")
    observatoire_goals = _Sub("observatoire_goals", [
        ("NOT b.have_observatoire", unknown, _lit("no observatoire data was loaded (source disabled or unreachable)"), 0),
        ("NOT b.in_observatoire", na, _cat("'not in the observatoire''s '", "b.year_text", "' editions'"), 0),
        (f"b.goals_reached >= {goals_min}", pass_, _cat(*goals_text), 1),
        (f"b.goals_reached + ({len(HEADLINE)} - b.goals_total) < {goals_min}", fail,
         _cat(*goals_text, f"', fewer than {goals_min}'"), 1),
        ("TRUE", unknown, _cat(*goals_text, f"': too many placeholders to tell whether {goals_min} are reached'"), 1),
    ], {0: [], 1: [("edition", "b.edition"), ("goals_reached", "b.goals_reached::INTEGER"),
                   ("goals_known", "b.goals_total::INTEGER"),
                   ("goals", "{" + ", ".join(f"{_lit(g)}: b.{g}_goal" for g in HEADLINE) + "}"),
                   ("procedure_ids", "coalesce(b.procedure_ids, []::VARCHAR[])"), ("evidence_url", "b.evidence_url"),
                   ("min_goals_reached", str(goals_min))]})

    rule = subs["accessibility"]
    passing = "[" + ", ".join(_lit(str(s).lower()) for s in rule["passing_statuses"]) + "]::VARCHAR[]"
    accessibility = _Sub("accessibility", [
        ("NOT b.registry_valid", unknown, registry_too_old("the registry's accessibility status"), 1),
        ("b.access_blank", _lit(rule["missing_verdict"]), _lit("no accessibility status declared in the registry"), 1),
        (f"list_contains({passing}, b.access_norm)", pass_, _cat("'accessibility declared '''", "b.access", "''''"), 1),
        ("b.access_norm = 'non conforme'", fail, _lit("accessibility declared 'non conforme'"), 1),
        ("TRUE", unknown, _cat("'accessibility status '''", "b.access", "''' is not a known level'"), 1),
    ], {1: [("accessibility_status", "CASE WHEN b.access_blank THEN NULL ELSE b.access END"), ("as_of", "b.registry_day")]})

    commits_min = int(subs["product_evolving"]["min_commits"])
    on_repo = ("' in '", "b.year_text", "' on '", "_c_str(b.a_repo)")
    archived = "CASE WHEN coalesce(b.a_archived, FALSE) THEN ', archived' ELSE '' END"
    frozen = ("(coalesce(b.a_archived, FALSE) AND b.a_last_push IS NOT NULL "
              "AND CAST(b.a_last_push AS DATE) < make_date(b.year, 1, 1))")
    product_evolving = _Sub("product_evolving", [
        ("b.repo_blank", unknown, _lit("no repository declared, so no activity to read"), 0),
        ("NOT b.in_activity", unknown, _cat("'repository activity was not fetched for '", "b.year_text"), 0),
        ("b.a_commits IS NULL", unknown,
         _cat("'commits'", *on_repo, "' unknown ('", "_c_str(b.a_status)", "': '",
              "_c_str(coalesce(nullif(b.a_reason, ''), b.a_status))", "')'"), 1),
        # An owner's address (organisation, user, group): its other products may be the ones evolving.
        (f"b.a_commits >= {commits_min} AND b.a_scope = 'owner'", pass_,
         _cat("CASE WHEN coalesce(b.a_lower_bound, FALSE) THEN 'at least ' ELSE '' END", "CAST(b.a_commits AS VARCHAR)",
              "' commits'", "' in '", "b.year_text", "' over the public repositories of '", "_c_str(b.a_repo)",
              "' (weak signal: the owner may host other products)'"), 2),
        (f"b.a_commits >= {commits_min}", pass_,
         _cat("CASE WHEN coalesce(b.a_lower_bound, FALSE) THEN 'at least ' ELSE '' END", "CAST(b.a_commits AS VARCHAR)",
              "' commits'", *on_repo), 1),
        (f"year(b.a_fetched_at) = b.year AND NOT {frozen}", unknown, _cat("'no commit yet'", *on_repo, "', a year not over'"), 1),
        ("TRUE", fail,
         _cat("CAST(b.a_commits AS VARCHAR)", "' commits'", *on_repo,
              f"CASE WHEN b.a_last_push IS NOT NULL THEN concat(' (last push ', _c_day(b.a_last_push), {archived}, ')') "
              f"ELSE {archived} END"), 1),
    ], {0: [], **{shape: [("repo", "b.a_repo"), ("commits_in_year", "b.a_commits"), ("last_push", "_c_day(b.a_last_push)"),
                          ("archived", "b.a_archived"), ("status", "b.a_status"), ("api_url", "b.a_api_url")]
                  for shape in (1, 2)}}, weak_shape=2)

    rule = subs["resources_shared"]
    forge_valid = "(b.f_found AND _c_valid(b.year, b.f_fetched_at))"
    checked = "b.repo_chk.checked_at IS NOT NULL"
    # The forge's word comes before the URL check's; anything positive before anything negative.
    resources_shared = _Sub("resources_shared", [
        (f"b.repo_blank AND {_lit(rule['no_repository_verdict'] == FAIL)} AND NOT b.registry_valid", unknown,
         registry_too_old("the registry's repository declaration"), 0),
        ("b.repo_blank", _lit(rule["no_repository_verdict"]),
         _lit("no repository declared (open data and API declarations are not in the registry)"), 0),
        ("NOT b.repo_web AND NOT b.registry_valid", unknown, registry_too_old("the registry's repository declaration"), 1),
        ("NOT b.repo_web", fail, _cat("'the declared repository '''", "b.repo_short", "''' is not a web address'"), 1),
        (f"{forge_valid} AND b.f_public IS TRUE", pass_,
         _cat("_c_str(b.f_repo)", "' is public on '", "_c_str(b.f_forge)", "' (checked '", "_c_day(b.f_fetched_at)", "')'"), 2),
        (f"{checked} AND b.repo_chk.ok", pass_,
         _cat("_c_str(b.repo_chk.url)", "' answered HTTP '", "_c_str(b.repo_chk.status_code)", "' on '",
              "_c_day(b.repo_chk.checked_at)"), 2),
        (f"{forge_valid} AND b.f_public IS FALSE", fail, _cat("_c_str(b.f_repo)", "' is private on '", "_c_str(b.f_forge)"), 2),
        (f"{forge_valid} AND b.f_public IS NULL AND b.f_status = 'not_found'", fail,
         _cat("_c_str(b.f_forge)", "' does not show '", "_c_str(b.f_repo)", "' publicly (HTTP 404)'"), 2),
        (checked, fail,
         _cat("_c_str(b.repo_chk.url)", "' did not answer on '", "_c_day(b.repo_chk.checked_at)", "' ('",
              "_c_str(b.repo_chk.error)", "')'"), 2),
        ("b.repo_visibility_at IS NULL", unknown, _lit("the repository's visibility was not checked"), 2),
        ("TRUE", unknown, too_old("the repository's visibility", "b.repo_visibility_at"), 2),
    ], {0: [], 1: [("repository", "b.repository")],
        2: [("repository", "b.repository"), ("repository_check", _check_struct("b.repo_chk")), ("forge_public", "b.f_public")]})

    rule = subs["impact_statistics"]
    checked = "b.stats_chk.checked_at IS NOT NULL"
    where = ("CASE WHEN b.stats_chk.final_url IS NOT NULL AND b.stats_chk.final_url <> '' "
             "AND b.stats_chk.final_url IS DISTINCT FROM b.stats_chk.url THEN concat(', ending at ', b.stats_chk.final_url) "
             "ELSE '' END")
    stats_url = [("stats_url", "CASE WHEN b.stats_blank THEN NULL ELSE b.stats_url END")]
    impact_statistics = _Sub("impact_statistics", [
        ("b.stats_blank AND NOT b.registry_valid", unknown, registry_too_old("the registry's stats page declaration"), 0),
        ("b.stats_blank", _lit(rule["missing_verdict"]), _lit("no stats page declared in the registry"), 1),
        ("NOT b.stats_web AND NOT b.registry_valid", unknown, registry_too_old("the registry's stats page declaration"), 1),
        ("NOT b.stats_web", fail, _cat("'the declared stats page '''", "b.stats_short", "''' is not a web address'"), 1),
        (f"NOT {checked} AND b.stats_checks = 0", unknown, _lit("the stats page was not checked (checks disabled)"), 2),
        (f"NOT {checked}", unknown, too_old("the stats page", "b.stats_latest_at"), 2),
        ("b.stats_chk.ok", pass_,
         _cat("_c_str(b.stats_chk.url)", "' answered HTTP '", "_c_str(b.stats_chk.status_code)", "' on '",
              "_c_day(b.stats_chk.checked_at)", where), 2),
        ("TRUE", fail,
         _cat("_c_str(b.stats_chk.url)", "' did not answer on '", "_c_day(b.stats_chk.checked_at)", "' ('",
              "_c_str(b.stats_chk.error)", "')'"), 2),
    ], {0: [], 1: stats_url, 2: [*stats_url, ("check", _check_struct("b.stats_chk"))]})

    rule = subs["team_answering"]
    help_min = float(rule["min_help_reachable"])
    measured = "(b.help_reachable IS NOT NULL AND NOT isnan(b.help_reachable))"
    measure_text = ("'the observatoire measured '", "format('{:g}', b.help_reachable)", "' % of users reaching help in '",
                    "_c_str(b.edition)")
    team_answering = _Sub("team_answering", [
        (f"{measured} AND b.help_reachable >= {help_min!r}::DOUBLE", pass_, _cat(*measure_text), 1),
        (measured, fail, _cat(*measure_text, _lit(f", under {help_min:g} %")), 1),
        ("NOT b.registry_valid", unknown, registry_too_old("the registry's contact"), 2),
        ("b.contact_blank", unknown, _lit("no help reachability measured and no contact declared"), 2),
        ("TRUE", pass_ if rule.get("weak_signals_pass", True) else unknown,
         _lit("a contact is declared (weak signal: no measured help reachability)"), 2),
    ], {1: [("help_reachable", "b.help_reachable::DOUBLE"), ("min_help_reachable", f"{help_min!r}::DOUBLE"),
            ("edition", "b.edition"), ("evidence_url", "b.evidence_url")],
        2: [("contact_declared", "NOT b.contact_blank"), ("as_of", "b.registry_day")]}, weak_shape=2)

    return [observatoire_goals, accessibility, product_evolving, resources_shared, impact_statistics, team_answering]


def _combine(subs: list[_Sub], required: list[str], no_source_reason: str) -> tuple[str, str]:
    """(verdict, reason) of (c): fails when one sub-criterion fails, passes when every required one passes."""
    by = {s.name: s for s in subs}
    any_failing = " OR ".join(f"{by[n].v} = 'fail'" for n in SUB_CRITERIA)
    any_missing = " OR ".join(f"{by[n].v} IS DISTINCT FROM 'pass'" for n in required) or "FALSE"
    failing = ", ".join(
        f"CASE WHEN {by[n].v} = 'fail' THEN concat({_lit(LABELS[n] + ': ')}, {by[n].r}) END" for n in SUB_CRITERIA
    )
    missing = ", ".join(
        f"CASE WHEN {by[n].v} IS DISTINCT FROM 'pass' THEN concat({_lit(LABELS[n] + ': ')}, {by[n].r}) END" for n in required
    ) or "NULL"
    weak = [f"CASE WHEN {by[n].weak()} THEN {_lit(LABELS[n])} END" for n in required if by[n].weak_shape is not None]
    listed = f"concat_ws(', ', {', '.join(weak)})"
    weak_note = f"CASE WHEN {listed} <> '' THEN concat(' (', {listed}, ' on a weak signal)') ELSE '' END" if weak else "''"
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
    and `registry_as_of`.
    """
    rules = rules_from(config.raw)
    _prepare(con, rules)
    subs = _sub_criteria(rules)
    past = _lit(bool(rules["current_checks"].get("apply_to_past_years", False)))
    decisions = ", ".join(f"{s.decide()} AS {s.name}" for s in subs)
    verdict, reason = _combine(subs, rules["required"], config.no_quality_reason)
    # The evidence object as text in one `concat`, then JSON (nested `json_object` re-parses its arguments).
    sub_evidence = ", ',', ".join(f"{_lit(json.dumps(s.name) + ':')}, {s.evidence()}" for s in subs)
    required = _lit(json.dumps(rules["required"], separators=(",", ":")))
    evidence = (f"""concat('{{"source":"quality","sub_criteria":{{', {sub_evidence}, '}},"required":', {required}, """
                f"""',"registry_as_of":', coalesce(to_json(registry_day), 'null'), '}}')""")
    # `d` is MATERIALIZED so that each decision, read several times, is computed once; with a single
    # consumer DuckDB streams it (nothing is buffered).
    return f"""
        WITH b AS (
            SELECT k.year::INTEGER AS year, k.startup_id::VARCHAR AS startup_id, CAST(k.year AS VARCHAR) AS year_text,
                   x.registry_at, x.registry_day, x.have_observatoire, x.no_source, x.no_source_detail,
                   _c_valid(k.year, x.registry_at) AS registry_valid,
                   coalesce(s.stats_blank, TRUE) AS stats_blank, coalesce(s.stats_web, FALSE) AS stats_web,
                   s.stats_url, s.stats_short,
                   coalesce(s.repo_blank, TRUE) AS repo_blank, coalesce(s.repo_web, FALSE) AS repo_web,
                   s.repository, s.repo_short, coalesce(s.contact_blank, TRUE) AS contact_blank,
                   s.access, coalesce(s.access_blank, TRUE) AS access_blank, s.access_norm,
                   o.startup_id IS NOT NULL AS in_observatoire, o.edition, o.goals_reached, o.goals_total,
                   {", ".join(f"o.{g}_goal" for g in HEADLINE)}, o.procedure_ids, o.evidence_url,
                   o.help_reachable::DOUBLE AS help_reachable,
                   a.startup_id IS NOT NULL AS in_activity, a.repo AS a_repo, a.commits_in_year AS a_commits,
                   a.commits_is_lower_bound AS a_lower_bound, a.last_push AS a_last_push, a.archived AS a_archived,
                   a.status AS a_status, a.reason AS a_reason, a.scope AS a_scope, a.fetched_at AS a_fetched_at, a.api_url AS a_api_url,
                   coalesce(s.f_found, FALSE) AS f_found, s.f_repo, s.f_forge, s.f_public, s.f_status, s.f_fetched_at,
                   CASE WHEN {past} AND year(s.repo_latest_at) >= k.year THEN s.repo_latest ELSE n.repo_chk END AS repo_chk,
                   CASE WHEN s.repo_checks > 0 THEN s.repo_latest_at ELSE s.f_fetched_at END AS repo_visibility_at,
                   CASE WHEN {past} AND year(s.stats_latest_at) >= k.year THEN s.stats_latest ELSE n.stats_chk END AS stats_chk,
                   coalesce(s.stats_checks, 0) AS stats_checks, s.stats_latest_at
            FROM {keys} k
            CROSS JOIN _c_context x
            LEFT JOIN _c_startup s ON s.startup_id = k.startup_id
            LEFT JOIN _c_observatoire o ON o.startup_id = k.startup_id AND o.year = k.year
            LEFT JOIN _c_activity a ON a.startup_id = k.startup_id AND a.year = k.year
            LEFT JOIN _c_check_near n ON n.startup_id = k.startup_id AND n.year = k.year
        ), d AS MATERIALIZED (
            SELECT b.*, {decisions} FROM b
        )
        SELECT year, startup_id, 'c' AS criterion, {verdict} AS verdict, {reason} AS reason, ({evidence})::JSON AS evidence
        FROM d AS b
    """


def criterion_c(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """`criterion_c_sql` over a frame of keys (year, startup_id): rows in the keys' order, evidence as dicts."""
    import pandas as pd

    years, ids = [int(y) for y in keys["year"]], [str(s) for s in keys["startup_id"]]
    con.execute("CREATE OR REPLACE TEMP TABLE _c_keys AS SELECT unnest(?::INTEGER[]) AS year, "
                "unnest(?::VARCHAR[]) AS startup_id, unnest(?::BIGINT[]) AS position", [years, ids, list(range(len(ids)))])
    con.execute("CREATE OR REPLACE TEMP VIEW _c_keys_distinct AS SELECT DISTINCT year, startup_id FROM _c_keys")
    sql = criterion_c_sql(con, "_c_keys_distinct", config)
    rows = con.execute(f"SELECT c.* FROM ({sql}) c JOIN _c_keys k USING (year, startup_id) ORDER BY k.position").fetchall()
    return pd.DataFrame([(*r[:5], json.loads(r[5])) for r in rows], columns=list(COLUMNS))
