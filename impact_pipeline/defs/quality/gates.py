"""Data-quality gates of the quality tables (declarative suites, run as blocking asset checks)."""

from __future__ import annotations

from impact_pipeline import contract
from impact_pipeline.defs.gates.specs import WARN, contract_suite, in_set, non_negative, references, rule, says_why
from impact_pipeline.lib.sql import sql_list

SCORES_10 = "('satisfaction', 'simplicity', 'help_efficient')"
PERCENTS = "('handicap', 'help_reachable', 'usage', 'help_used', 'uptime')"
# repository_activity's statuses: the repository was read (now or as stored), or it was not and the row says why.
READ = ("ok", "not_modified")
NOT_READ = ("rate_limited", "error", "not_found", "unsupported", "disabled")
STATUSES = (*READ, *NOT_READ)

SUITES = [
    contract_suite(
        contract.OBSERVATOIRE_PROCEDURES,
        [
            non_negative("volume"),
            rule(
                "scores out of 10 lie in 0–10",
                f"t.indicator NOT IN {SCORES_10} OR t.value_numeric IS NULL OR t.value_numeric BETWEEN 0 AND 10",
                show=("indicator", "value", "value_numeric"),
            ),
            rule(
                "percentages lie in 0–100",
                f"t.indicator NOT IN {PERCENTS} OR t.value_numeric IS NULL OR t.value_numeric BETWEEN 0 AND 100",
                show=("indicator", "value", "value_numeric"),
            ),
            rule(
                "a placeholder is neither a number nor a reached/missed goal",
                "NOT t.placeholder OR (t.value_numeric IS NULL AND t.goal_reached IS NULL)",
                show=("indicator", "value", "placeholder", "goal_reached"),
            ),
        ],
    ),
    contract_suite(
        contract.STARTUP_OBSERVATOIRE,
        [
            references("startup_id", "startups", "startup_id"),
            rule(
                "0 <= goals_reached <= goals_total <= 5",
                "t.goals_reached BETWEEN 0 AND t.goals_total AND t.goals_total <= 5",
                show=("goals_reached", "goals_total"),
            ),
            rule(
                "help_reachable is a percentage",
                "t.help_reachable IS NULL OR t.help_reachable BETWEEN 0 AND 100",
                show=("help_reachable",),
            ),
            rule(
                "n_procedures counts procedure_ids",
                "t.n_procedures = len(t.procedure_ids) AND t.n_procedures > 0",
                show=("n_procedures", "procedure_ids"),
            ),
            non_negative("online_volume"),
        ],
    ),
    contract_suite(
        contract.REPOSITORY_ACTIVITY,
        [
            # rows of years not re-run stay: a service since removed from the registry is a warning
            references("startup_id", "startups", "startup_id", severity=WARN),
            in_set("status", STATUSES),
            in_set("forge", ("github", "gitlab", "other")),
            non_negative("commits_in_year"),
            rule(
                "a repository that could not be read has no commit count (never a silent zero)",
                f"t.status NOT IN {sql_list(NOT_READ)} OR t.commits_in_year IS NULL",
                show=("status", "commits_in_year"),
            ),
            says_why(
                "a repository that could not be read says why", f"t.status IN {sql_list(READ)}", "reason", "status"
            ),
        ],
    ),
    contract_suite(
        contract.STATS_PAGE_CHECKS,
        [
            references("startup_id", "startups", "startup_id", severity=WARN),  # checks are kept as history
            in_set("kind", ("stats_url", "repository")),
            rule(
                "an answering page ended on a success status",
                "NOT t.ok OR t.status_code BETWEEN 200 AND 299 OR t.status_code = 304",
                show=("status_code", "ok"),
            ),
            says_why("a failed check says why", "t.ok", "error", "ok"),
        ],
        history="checked_at",  # every check is kept: each run adds its own
    ),
    contract_suite(
        contract.WEB_ARCHIVE_CAPTURES,
        [
            rule(
                "a capture links to the archive's copy of the page",
                "t.capture_url LIKE 'http%/web/%'",
                show=("url", "capture_url"),
            ),
            rule(
                "an HTTP status is a status",
                "t.status_code IS NULL OR t.status_code BETWEEN 100 AND 599",
                show=("url", "status_code"),
            ),
        ],
        history="asked_at",  # captures are added as the archive is asked about new years
    ),
]
