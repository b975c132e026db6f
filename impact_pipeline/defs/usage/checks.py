"""Data-quality gates of the usage tables (declarative suites, run as blocking asset checks)."""

from __future__ import annotations

from impact_pipeline import contract
from impact_pipeline.defs.gates.specs import WARN, contract_suite, in_set, non_negative, ordered, rule
from impact_pipeline.defs.usage.observations import KNOWN_UNITS, REACH_UNITS, SOURCES
from impact_pipeline.defs.usage.reach import DEFAULT_RANKING

_PUBLIC_OR_NULL = (
    "t.evidence_url IS NULL OR (regexp_matches(t.evidence_url, '^https?://[^/?#\\s@]+') "
    "AND NOT regexp_matches(lower(t.evidence_url), "
    "'^https?://(localhost|127\\.|10\\.|192\\.168\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|169\\.254\\.|0\\.|\\[)'))"
)

SUITES = [
    contract_suite(
        contract.USAGE_OBSERVATIONS,
        [
            non_negative("value"),
            in_set("unit", KNOWN_UNITS, label="unit is a known normalised unit"),
            in_set("source", SOURCES, label="source is a known adapter"),
            ordered("period_start", "period_end"),
            rule("a stock has no period start", "NOT t.is_stock OR t.period_start IS NULL", show=("is_stock", "period_start")),
            rule("evidence_url is a public http(s) URL or NULL", _PUBLIC_OR_NULL, show=("evidence_url",)),
        ],
    ),
    contract_suite(
        contract.USAGE_SOURCE_STATUS,
        [
            in_set("status", ("ok", "empty", "error")),
            rule("an error says why", "t.status <> 'error' OR coalesce(t.error, '') <> ''", show=("status", "error")),
        ],
    ),
    contract_suite(
        contract.YEARLY_REACH,
        [
            non_negative("value"),
            in_set("unit", REACH_UNITS),
            in_set("kind", ("users", "uses", "visits")),
            in_set("evidence_rank", DEFAULT_RANKING),
            rule("only a sum of unique visitors is an upper bound",
                 "NOT t.upper_bound OR t.evidence_rank = 'monthly_uniques_upper_bound'", show=("upper_bound", "evidence_rank")),
            rule("evidence_url is a public http(s) URL or NULL", _PUBLIC_OR_NULL, show=("evidence_url",), severity=WARN),
        ],
    ),
]
