"""Criterion (c), quality standards, as a rule over the quality tables.

Six named sub-criteria, each `pass` / `fail` / `unknown` / `not_applicable` with a reason and its evidence;
rules and thresholds come from `criteria.c` in the criteria config. (c) is `pass` only when no
sub-criterion fails and every required one passes; `fail` when one fails; `unknown` otherwise.

Evidence observed "now" (registry declarations, stats page and repository checks, repository visibility)
counts for the year it was observed in, and for the previous year when observed in the first months of
the next (`current_checks.valid_into_next_year_months`); earlier years are `unknown` for those
sub-criteria. Commits are dated, so repository activity is judged for any year.
"""

from __future__ import annotations

from datetime import date, datetime
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


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "")).date()
    except ValueError:
        return None


class Window:
    """Whether something observed on a day is evidence for a year."""

    def __init__(self, rules: dict[str, Any]):
        checks = rules["current_checks"]
        self.months = int(checks.get("valid_into_next_year_months", 6))
        self.past = bool(checks.get("apply_to_past_years", False))

    def valid(self, year: int, observed: Any) -> bool:
        day = _as_date(observed)
        if day is None:
            return False
        if day.year == year or (day.year == year + 1 and day.month <= self.months):
            return True
        return self.past and day.year > year

    @staticmethod
    def too_old(what: str, observed: Any, year: int) -> str:
        day = _as_date(observed)
        when = day.isoformat() if day else "an unknown date"
        return f"{what} was observed on {when}, which is no evidence for {year}"


def _sub(verdict: str, reason: str, weak: bool = False, **values: Any) -> dict[str, Any]:
    return {"verdict": verdict, "reason": reason, "weak": weak, **{k: v for k, v in values.items()}}


def _fmt_day(value: Any) -> str | None:
    day = _as_date(value)
    return day.isoformat() if day else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


# --- the six sub-criteria -------------------------------------------------------------------------


def observatoire_goals(year: int, obs: dict | None, have_observatoire: bool, rule: dict) -> dict:
    if not have_observatoire:
        return _sub(UNKNOWN, "no observatoire data was loaded (source disabled or unreachable)")
    if obs is None:
        return _sub(NA, f"not in the observatoire's {year} editions")
    minimum = int(rule["min_goals_reached"])
    reached, known = int(obs["goals_reached"]), int(obs["goals_total"])
    goals = {g: obs.get(f"{g}_goal") for g in HEADLINE}
    values = dict(edition=obs["edition"], goals_reached=reached, goals_known=known, goals=goals,
                  procedure_ids=list(obs.get("procedure_ids") or []), evidence_url=obs.get("evidence_url"),
                  min_goals_reached=minimum)
    text = f"{reached} of the 5 headline goals reached in {obs['edition']} ({known} known)"
    if reached >= minimum:
        return _sub(PASS, text, **values)
    if reached + (len(HEADLINE) - known) < minimum:
        return _sub(FAIL, f"{text}, fewer than {minimum}", **values)
    return _sub(UNKNOWN, f"{text}: too many placeholders to tell whether {minimum} are reached", **values)


def accessibility(year: int, startup: dict, registry_at: Any, window: Window, rule: dict) -> dict:
    status = startup.get("accessibility_status")
    values = dict(accessibility_status=None if _blank(status) else status, as_of=_fmt_day(registry_at))
    if not window.valid(year, registry_at):
        return _sub(UNKNOWN, Window.too_old("the registry's accessibility status", registry_at, year), **values)
    if _blank(status):
        return _sub(rule["missing_verdict"], "no accessibility status declared in the registry", **values)
    normalized = str(status).strip().lower()
    if normalized in {s.lower() for s in rule["passing_statuses"]}:
        return _sub(PASS, f"accessibility declared '{status}'", **values)
    if normalized == "non conforme":
        return _sub(FAIL, "accessibility declared 'non conforme'", **values)
    return _sub(UNKNOWN, f"accessibility status '{status}' is not a known level", **values)


def product_evolving(year: int, startup: dict, activity: dict | None, rule: dict) -> dict:
    if _blank(startup.get("repository")):
        return _sub(UNKNOWN, "no repository declared, so no activity to read")
    if activity is None:
        return _sub(UNKNOWN, f"repository activity was not fetched for {year}")
    values = dict(repo=activity["repo"], commits_in_year=activity["commits_in_year"], last_push=_fmt_day(activity["last_push"]),
                  archived=activity["archived"], status=activity["status"], api_url=activity.get("api_url"))
    count = activity["commits_in_year"]
    if count is None or (isinstance(count, float) and count != count):
        reason = activity.get("reason") or activity["status"]
        return _sub(UNKNOWN, f"commits in {year} on {activity['repo']} unknown ({activity['status']}: {reason})", **values)
    minimum = int(rule["min_commits"])
    count = int(count)
    if count >= minimum:
        more = "at least " if activity.get("commits_is_lower_bound") else ""
        return _sub(PASS, f"{more}{count} commits in {year} on {activity['repo']}", **values)
    fetched = _as_date(activity.get("fetched_at"))
    frozen = bool(activity["archived"]) and values["last_push"] is not None and values["last_push"] < f"{year}-01-01"
    if fetched is not None and fetched.year == year and not frozen:
        return _sub(UNKNOWN, f"no commit yet in {year} on {activity['repo']}, a year not over", **values)
    archived = ", archived" if activity["archived"] else ""
    last = f" (last push {values['last_push']}{archived})" if values["last_push"] else archived
    return _sub(FAIL, f"{count} commits in {year} on {activity['repo']}{last}", **values)


def resources_shared(
    year: int, startup: dict, forge: dict | None, repo_checks: list[dict], window: Window, rule: dict, registry_at: Any = None
) -> dict:
    from impact_pipeline.lib.urls import public_http_url

    repository = startup.get("repository")
    if _blank(repository):
        if rule["no_repository_verdict"] == FAIL and not window.valid(year, registry_at):
            return _sub(UNKNOWN, Window.too_old("the registry's repository declaration", registry_at, year))
        return _sub(rule["no_repository_verdict"], "no repository declared (open data and API declarations are not in the registry)")
    if public_http_url(repository) is None:
        if not window.valid(year, registry_at):
            return _sub(UNKNOWN, Window.too_old("the registry's repository declaration", registry_at, year), repository=repository)
        return _sub(FAIL, f"the declared repository '{str(repository)[:60]}' is not a web address", repository=repository)
    positive, negative = [], []
    if forge is not None and window.valid(year, forge.get("fetched_at")):
        if forge.get("public") is True:
            positive.append(f"{forge['repo']} is public on {forge['forge']} (checked {_fmt_day(forge['fetched_at'])})")
        elif forge.get("public") is False:
            negative.append(f"{forge['repo']} is private on {forge['forge']}")
        elif forge.get("status") == "not_found":
            negative.append(f"{forge['forge']} does not show {forge['repo']} publicly (HTTP 404)")
    check = next((c for c in repo_checks if window.valid(year, c["checked_at"])), None)
    if check is not None:
        if check["ok"]:
            positive.append(f"{check['url']} answered HTTP {check['status_code']} on {_fmt_day(check['checked_at'])}")
        else:
            negative.append(f"{check['url']} did not answer on {_fmt_day(check['checked_at'])} ({check['error']})")
    values = dict(repository=repository, repository_check=_check_values(check),
                  forge_public=None if forge is None else forge.get("public"))
    if positive:
        return _sub(PASS, positive[0], **values)
    if negative:
        return _sub(FAIL, negative[0], **values)
    latest = repo_checks[0]["checked_at"] if repo_checks else (forge or {}).get("fetched_at")
    if latest is None:
        return _sub(UNKNOWN, "the repository's visibility was not checked", **values)
    return _sub(UNKNOWN, Window.too_old("the repository's visibility", latest, year), **values)


def _check_values(check: dict | None) -> dict | None:
    if check is None:
        return None
    return {k: (_fmt_day(check[k]) if k == "checked_at" else check[k]) for k in ("url", "status_code", "ok", "final_url", "checked_at", "error")}


def impact_statistics(year: int, startup: dict, registry_at: Any, stats_checks: list[dict], window: Window, rule: dict) -> dict:
    from impact_pipeline.lib.urls import public_http_url

    stats_url = startup.get("stats_url")
    if _blank(stats_url):
        if not window.valid(year, registry_at):
            return _sub(UNKNOWN, Window.too_old("the registry's stats page declaration", registry_at, year))
        return _sub(rule["missing_verdict"], "no stats page declared in the registry", stats_url=None)
    if public_http_url(stats_url) is None:
        if not window.valid(year, registry_at):
            return _sub(UNKNOWN, Window.too_old("the registry's stats page declaration", registry_at, year), stats_url=stats_url)
        return _sub(FAIL, f"the declared stats page '{str(stats_url)[:60]}' is not a web address", stats_url=stats_url)
    check = next((c for c in stats_checks if window.valid(year, c["checked_at"])), None)
    values = dict(stats_url=stats_url, check=_check_values(check))
    if check is None:
        if not stats_checks:
            return _sub(UNKNOWN, "the stats page was not checked (checks disabled)", **values)
        return _sub(UNKNOWN, Window.too_old("the stats page", stats_checks[0]["checked_at"], year), **values)
    if check["ok"]:
        where = f", ending at {check['final_url']}" if check["final_url"] and check["final_url"] != check["url"] else ""
        return _sub(PASS, f"{check['url']} answered HTTP {check['status_code']} on {_fmt_day(check['checked_at'])}{where}", **values)
    return _sub(FAIL, f"{check['url']} did not answer on {_fmt_day(check['checked_at'])} ({check['error']})", **values)


def team_answering(year: int, startup: dict, obs: dict | None, registry_at: Any, window: Window, rule: dict) -> dict:
    minimum = float(rule["min_help_reachable"])
    help_reachable = None if obs is None else obs.get("help_reachable")
    if help_reachable is not None and help_reachable == help_reachable:
        values = dict(help_reachable=float(help_reachable), min_help_reachable=minimum, edition=obs["edition"],
                      evidence_url=obs.get("evidence_url"))
        text = f"the observatoire measured {float(help_reachable):g} % of users reaching help in {obs['edition']}"
        return _sub(PASS if help_reachable >= minimum else FAIL, text + ("" if help_reachable >= minimum else f", under {minimum:g} %"), **values)
    contact = startup.get("contact")
    values = dict(contact_declared=not _blank(contact), as_of=_fmt_day(registry_at))
    if not window.valid(year, registry_at):
        return _sub(UNKNOWN, Window.too_old("the registry's contact", registry_at, year), weak=True, **values)
    if _blank(contact):
        return _sub(UNKNOWN, "no help reachability measured and no contact declared", weak=True, **values)
    verdict = PASS if rule.get("weak_signals_pass", True) else UNKNOWN
    return _sub(verdict, "a contact is declared (weak signal: no measured help reachability)", weak=True, **values)


def combine(subs: dict[str, dict], required: list[str]) -> tuple[str, str]:
    """(verdict, reason) of (c) from its sub-criteria."""
    failing = [n for n in SUB_CRITERIA if subs[n]["verdict"] == FAIL]
    if failing:
        listed = "; ".join(f"{LABELS[n]}: {subs[n]['reason']}" for n in failing)
        return FAIL, f"(c) fails: {listed}."
    missing = [n for n in required if subs[n]["verdict"] != PASS]
    if not missing:
        weak = [LABELS[n] for n in required if subs[n].get("weak")]
        note = f" ({', '.join(weak)} on a weak signal)" if weak else ""
        return PASS, f"(c) pass: no sub-criterion fails and every required one passes{note}."
    listed = "; ".join(f"{LABELS[n]}: {subs[n]['reason']}" for n in missing)
    return UNKNOWN, f"(c) unknown: no sub-criterion fails but required ones lack evidence ({listed})."


# --- the criterion --------------------------------------------------------------------------------


def _dicts(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def criterion_c(con, keys: pd.DataFrame, config: CriteriaConfig) -> pd.DataFrame:
    """Rows (year, startup_id, criterion='c', verdict, reason, evidence: dict) for every key."""
    import pandas as pd

    rules = rules_from(config.raw)
    window = Window(rules)
    subs_rules = rules["sub_criteria"]
    startups = {r["startup_id"]: r for r in _dicts(
        con, "SELECT startup_id, link, stats_url, repository, contact, accessibility_status FROM startups")}
    fetched = con.execute("SELECT max(fetched_at) FROM registry_raw").fetchall()
    registry_at = fetched[0][0] if fetched else None
    observatoire = {(r["startup_id"], int(r["year"])): r for r in _dicts(con, "SELECT * FROM startup_observatoire")}
    have_observatoire = con.execute("SELECT count(*) FROM observatoire_procedures").fetchall()[0][0] > 0
    activity = {(r["startup_id"], int(r["year"])): r for r in _dicts(con, "SELECT * FROM repository_activity")}
    latest_forge: dict[str, dict] = {}
    for r in sorted(activity.values(), key=lambda r: str(r["fetched_at"] or "")):
        latest_forge[r["startup_id"]] = r  # the latest fetch's visibility
    checks: dict[tuple[str, str], list[dict]] = {}
    for r in _dicts(con, "SELECT * FROM stats_page_checks ORDER BY checked_at DESC"):
        checks.setdefault((r["startup_id"], r["kind"]), []).append(r)

    # No quality source connected at all (every source disabled): said first in the unknown reasons.
    forges_used = any(r["status"] not in ("disabled", "unsupported") for r in activity.values())
    no_source = not have_observatoire and not forges_used and not checks
    rows = []
    for key in keys[["year", "startup_id"]].itertuples(index=False):
        year, sid = int(key.year), key.startup_id
        startup = startups.get(sid, {"startup_id": sid})
        obs = observatoire.get((sid, year))
        subs = {
            "observatoire_goals": observatoire_goals(year, obs, have_observatoire, subs_rules["observatoire_goals"]),
            "accessibility": accessibility(year, startup, registry_at, window, subs_rules["accessibility"]),
            "product_evolving": product_evolving(year, startup, activity.get((sid, year)), subs_rules["product_evolving"]),
            "resources_shared": resources_shared(year, startup, latest_forge.get(sid), checks.get((sid, "repository"), []),
                                                 window, subs_rules["resources_shared"], registry_at),
            "impact_statistics": impact_statistics(year, startup, registry_at, checks.get((sid, "stats_url"), []),
                                                   window, subs_rules["impact_statistics"]),
            "team_answering": team_answering(year, startup, obs, registry_at, window, subs_rules["team_answering"]),
        }
        verdict, reason = combine(subs, rules["required"])
        if verdict == UNKNOWN and no_source:
            reason = f"(c) unknown: {config.no_quality_reason}; " + reason[len("(c) unknown: "):]
        evidence = {"source": "quality", "sub_criteria": subs, "required": rules["required"],
                    "registry_as_of": _fmt_day(registry_at)}
        rows.append((year, sid, "c", verdict, reason, evidence))
    return pd.DataFrame(rows, columns=["year", "startup_id", "criterion", "verdict", "reason", "evidence"])
