"""The expectation suites of the registry tables and of the evaluation (the criterion gates).

Each domain's `definitions.py` gives its own suites to `asset_checks.gates_of`: the registry `REGISTRY_SUITES`,
the impact domain `IMPACT_SUITES`, the others the `SUITES` list of their `gates.py` (built with `specs.py`).
"""

from __future__ import annotations

from impact_pipeline import contract
from impact_pipeline.defs.gates.specs import (
    WARN,
    ExpectationSpec,
    Suite,
    contract_specs,
    contract_suite,
    in_set,
    ordered,
    references,
    rule,
)
from impact_pipeline.defs.registry.phases import LIFECYCLE, OLD_NAMES
from impact_pipeline.lib.sql import sql_list, sql_literal
from impact_pipeline.lib.urls import REFUSED_LINK_RE, public_evidence_url_sql

VERDICTS = ("pass", "fail", "unknown")
KNOWN_PHASES = tuple(sorted({*LIFECYCLE, *OLD_NAMES}))


LINK_COLUMNS = ("link", "stats_url", "impact_url", "budget_url", "repository")


def _public_url(expr: str, config) -> str:
    # The one rule (lib/urls.public_evidence_url), under the run's IMPACT_ALLOW_PRIVATE_NETWORK.
    return public_evidence_url_sql(expr, allow_private_network=config.allow_private_network)


# --- registry (ingested tables) ---------------------------------------------------------------

# registry_raw is the log of every fetch (a 304 adds a row too). Its gate validates the latest fetch of each
# checksum: the rows that keep a document, which is what a run reads. An older fetch was the latest of its
# checksum when the run that wrote it validated it; validating the whole log again each night would make the
# frame, and its fingerprint, change with every fetch, so that an unchanged registry could never reuse a result.
REGISTRY_RAW_FRAME = (
    "SELECT * FROM registry_raw "
    "QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY fetched_at DESC NULLS FIRST) = 1"
)

REGISTRY_SUITES: list[Suite] = [
    # Upstream facts we cannot fix (a dangling incubator id, a phase ending before it starts) are warnings,
    # listed in the check (and in registry_findings); what the pipeline itself guarantees is blocking.
    contract_suite(
        contract.STARTUPS,
        [
            references("incubator_id", "incubators", "incubator_id", severity=WARN),
            rule(
                "links never carry a refused scheme (javascript:, file:, ftp:, data:…)",
                " AND ".join(
                    f"NOT regexp_matches(lower(coalesce(t.{c}, '')), '{REFUSED_LINK_RE}')" for c in LINK_COLUMNS
                ),
                show=LINK_COLUMNS,
            ),
        ],
    ),
    contract_suite(
        contract.STARTUP_PHASES,
        [
            ordered("start_date", "end_date", severity=WARN),
            rule(
                "phase_normalized is the normalisation of a known phase name",
                "t.phase_normalized IS NULL OR t.phase_normalized IN " + sql_list(LIFECYCLE),
                show=("phase", "phase_normalized"),
            ),
        ],
    ),
    Suite(
        table="startup_phases",
        name="known_phases",
        description="Phase names in the 2026 or the old vocabulary; unknown names are a warning, listed here.",
        specs=[in_set("phase", KNOWN_PHASES, severity=WARN, label="phase names in a known vocabulary")],
        key=contract.STARTUP_PHASES.key,
    ),
    contract_suite(contract.STARTUP_EVENTS),
    contract_suite(contract.INCUBATORS),
    contract_suite(
        contract.REGISTRY_FINDINGS,
        [in_set("severity", ("warning", "error"))],
    ),
    # What each stored document declared (criterion (c)'s dated registry facts): one row per document and service.
    contract_suite(contract.REGISTRY_DECLARATIONS),
    # The raw document is kept only for the latest fetch of each checksum: older rows carry NULL.
    Suite(
        table="registry_raw",
        name="contract",
        description="registry_raw: the latest fetch of each checksum (the rows a run can read; each row was "
        "validated by the run that wrote it) has its required columns, and the latest fetch keeps its document.",
        specs=[
            *contract_specs(contract.REGISTRY_RAW, not_required=("document",)),
            rule(
                "the latest fetch keeps its document",
                "t.document IS NOT NULL OR t.fetched_at < (SELECT max(fetched_at) FROM registry_raw)",
                show=("fetched_at", "sha256"),
            ),
        ],
        key=contract.REGISTRY_RAW.key,
        frame_sql=REGISTRY_RAW_FRAME,
    ),
]


# --- evaluation: the criterion gates ---------------------------------------------------------


def _qualifying(config) -> str:
    return sql_list(config.criteria.a.qualifying_phases)


def evaluation_specs(config) -> list[ExpectationSpec]:
    """criteria_evaluation: vocabularies, three criteria per service-year, and evidence behind each pass."""
    threshold = sql_literal(config.criteria.b.min_yearly_reach)
    evidence_url_ok = _public_url("t.evidence->>'evidence_url'", config)
    return [
        in_set("criterion", ("a", "b", "c")),
        in_set("verdict", VERDICTS),
        rule(
            "each evaluated (year, startup) has the three criteria",
            # A window over the validated table itself: one pass, where a correlated subquery joined it to itself.
            "count(DISTINCT t.criterion) OVER (PARTITION BY t.year, t.startup_id) = 3",
            show=("criterion",),
        ),
        rule(
            "(a) pass: the phase at the end of the year is a qualifying phase",
            _for_pass("t.criterion = 'a'", f"(t.evidence->>'phase_at_year_end') IN {_qualifying(config)}"),
            show=("criterion", "verdict", "evidence"),
        ),
        rule(
            f"(b) pass: reach >= {config.criteria.b.min_yearly_reach:g} with a public evidence URL",
            _for_pass(
                "t.criterion = 'b'", f"TRY_CAST(t.evidence->>'value' AS DOUBLE) >= {threshold} AND {evidence_url_ok}"
            ),
            show=("criterion", "verdict", "evidence"),
        ),
        rule(
            "(c) pass: no failing sub-criterion",
            _for_pass("t.criterion = 'c'", "NOT " + _has_failing_sub_criterion("t.evidence")),
            show=("criterion", "verdict", "evidence"),
        ),
    ]


def _for_pass(which: str, check: str) -> str:
    """`check` holds for the passes of `which`; a CASE, so the evidence is only parsed on those rows."""
    return f"CASE WHEN {which} AND t.verdict = 'pass' THEN ({check}) ELSE TRUE END"


def _has_failing_sub_criterion(evidence: str) -> str:
    """True when `sub_criteria` (name → verdict, or name → {verdict: …}) holds a 'fail'."""
    return (
        f"(coalesce(list_contains(json_extract_string({evidence}, '$.sub_criteria.*'), 'fail'), FALSE) "
        f"OR coalesce(list_contains(json_extract_string({evidence}, '$.sub_criteria.*.verdict'), 'fail'), FALSE))"
    )


def criterion_a_specs(config) -> list[ExpectationSpec]:
    return [
        rule(
            "(a) pass only with a qualifying phase at the end of the year",
            f"t.criterion_a <> 'pass' OR t.phase_at_year_end IN {_qualifying(config)}",
            show=("criterion_a", "phase_at_year_end"),
        ),
    ]


def _pass_only_with(criterion: str, what: str, condition: str, shown: str) -> ExpectationSpec:
    """A pass on `criterion` in national_impact needs `condition` (SQL over the row `t`, read only on passes)."""
    return rule(
        f"({criterion}) pass only with {what}",
        f"CASE WHEN t.criterion_{criterion} = 'pass' THEN {condition} ELSE TRUE END",
        show=(f"criterion_{criterion}", shown),
    )


def criterion_b_specs(config) -> list[ExpectationSpec]:
    threshold = sql_literal(config.criteria.b.min_yearly_reach)
    return [
        _pass_only_with(
            "b",
            f"a reach >= {config.criteria.b.min_yearly_reach:g} (evidence b.value)",
            f"TRY_CAST(t.evidence->'b'->>'value' AS DOUBLE) >= {threshold}",
            "reach",
        ),
        _pass_only_with(
            "b",
            "a public evidence URL (evidence b.evidence_url)",
            "(" + _public_url("t.evidence->'b'->>'evidence_url'", config) + ")",
            "evidence_url",
        ),
    ]


def criterion_c_specs(config) -> list[ExpectationSpec]:
    return [
        _pass_only_with(
            "c",
            "no failing sub-criterion (evidence c.sub_criteria)",
            "NOT " + _has_failing_sub_criterion("t.evidence->'c'"),
            "sub_criteria",
        ),
    ]


def verdict_specs(config) -> list[ExpectationSpec]:
    return [
        *[in_set(f"criterion_{c}", VERDICTS) for c in "abc"],
        rule(
            "meets_criteria is exactly 'the three criteria pass'",
            "t.meets_criteria = (t.criterion_a = 'pass' AND t.criterion_b = 'pass' AND t.criterion_c = 'pass')",
            show=("criterion_a", "criterion_b", "criterion_c", "meets_criteria"),
        ),
        rule(
            "verdicts are those of criteria_evaluation",
            "(SELECT list(e.verdict ORDER BY e.criterion) FROM criteria_evaluation e "
            "WHERE e.year = t.year AND e.startup_id = t.startup_id) = [t.criterion_a, t.criterion_b, t.criterion_c]",
            show=("criterion_a", "criterion_b", "criterion_c"),
        ),
    ]


# The evidence fields the national_impact rules read, shown beside offending rows (computed on those rows only).
NATIONAL_IMPACT_SHOWN = (
    ("reach", "t.evidence->'b'->>'value'"),
    ("evidence_url", "t.evidence->'b'->>'evidence_url'"),
    ("sub_criteria", "(t.evidence->'c'->'sub_criteria')::VARCHAR"),
)

# The summary beside counts recomputed from national_impact (a FULL JOIN: a year missing on either side shows).
SUMMARY_FRAME = """
WITH firsts AS (
    SELECT startup_id, min(year) AS first_year FROM national_impact WHERE meets_criteria GROUP BY startup_id
), recount AS (
    SELECT n.year,
           count(*) AS table_n_evaluated,
           count(*) FILTER (WHERE n.meets_criteria) AS table_n_meeting_criteria,
           count(*) FILTER (WHERE n.meets_criteria AND f.first_year = n.year) AS table_n_first_meeting,
           count(*) FILTER (WHERE n.meets_criteria AND NOT n.officially_designated) AS table_n_meeting_not_designated
    FROM national_impact n LEFT JOIN firsts f USING (startup_id)
    GROUP BY n.year
)
SELECT coalesce(s.year, r.year) AS year, s.year IS NOT NULL AS in_summary, r.year IS NOT NULL AS in_table,
       s.n_evaluated, r.table_n_evaluated, s.n_meeting_criteria, r.table_n_meeting_criteria,
       s.n_first_meeting, r.table_n_first_meeting, s.n_meeting_not_designated, r.table_n_meeting_not_designated,
       s.n_designated_in_year, s.n_designated_cumulative, s.n_designated_not_meeting, s.criteria_version
FROM national_impact_summary s FULL OUTER JOIN recount r ON r.year = s.year
"""


def summary_specs(config) -> list[ExpectationSpec]:
    specs = [
        rule("every year of national_impact has a summary row", "t.in_summary", show=("in_summary",)),
        # A year in which no service is evaluated (none had a phase yet) is a summary row of zeros.
        rule(
            "every summary year has rows in national_impact, or evaluates no service",
            "t.in_table OR t.n_evaluated = 0",
            show=("in_table", "n_evaluated"),
        ),
    ]
    for count in ("n_evaluated", "n_meeting_criteria", "n_first_meeting", "n_meeting_not_designated"):
        specs.append(
            rule(
                f"{count} agrees with national_impact",
                f"t.{count} = coalesce(t.table_{count}, 0)",
                show=(count, f"table_{count}"),
            )
        )
    specs.append(
        rule(
            "designation counts are consistent (flow <= cumulative)",
            "t.n_designated_in_year <= t.n_designated_cumulative AND t.n_designated_not_meeting <= "
            "t.n_designated_cumulative",
            show=("n_designated_in_year", "n_designated_cumulative", "n_designated_not_meeting"),
        )
    )
    return specs


IMPACT_SUITES: list[Suite] = [
    Suite(
        "criteria_evaluation",
        "contract",
        "Keys, vocabularies, three criteria per evaluated service-year, and the evidence behind every pass.",
        specs=lambda config: [*contract_suite(contract.CRITERIA_EVALUATION).resolve(), *evaluation_specs(config)],
        key=contract.CRITERIA_EVALUATION.key,
        in_database=True,
    ),
    # The published table's gates, inside DuckDB (its evidence fields shown beside offending rows only).
    *(
        Suite(
            "national_impact",
            name,
            description,
            specs=specs,
            key=contract.NATIONAL_IMPACT.key,
            shown_sql=NATIONAL_IMPACT_SHOWN,
            in_database=True,
        )
        for name, description, specs in (
            (
                "verdicts",
                "One row per (year, startup); meets_criteria is exactly 'all three pass'; "
                "verdicts match the evaluation.",
                lambda config: [*contract_suite(contract.NATIONAL_IMPACT).resolve(), *verdict_specs(config)],
            ),
            (
                "criterion_a_evidence",
                "No (a) pass without a qualifying phase at the end of the year (criteria.yaml).",
                criterion_a_specs,
            ),
            (
                "criterion_b_evidence",
                "No (b) pass without a reach at or above the configured threshold and a public evidence URL.",
                criterion_b_specs,
            ),
            ("criterion_c_evidence", "No (c) pass with a failing sub-criterion.", criterion_c_specs),
        )
    ),
    Suite(
        "national_impact_summary",
        "agrees_with_table",
        "The yearly counts agree with national_impact, recomputed over every year of the working file.",
        specs=summary_specs,
        key=("year",),
        frame_sql=SUMMARY_FRAME,
    ),
]

ALL_SUITES: list[Suite] = [*REGISTRY_SUITES, *IMPACT_SUITES]
