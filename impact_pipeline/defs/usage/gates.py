"""Data-quality gates of the usage tables (declarative suites, run as blocking asset checks)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from impact_pipeline import contract
from impact_pipeline.defs.gates.specs import WARN, Suite, contract_suite, in_set, non_negative, ordered, rule, says_why
from impact_pipeline.defs.usage.adapters import SOURCES
from impact_pipeline.defs.usage.observations import KNOWN_UNITS, REACH_UNITS
from impact_pipeline.defs.usage.reach import DEFAULT_RANKING
from impact_pipeline.lib.urls import public_evidence_url_sql

if TYPE_CHECKING:
    from impact_pipeline.criteria_config import CriteriaConfig

_PUBLIC_LABEL = "evidence_url is a public http(s) URL or NULL"


def _public_or_null(config: CriteriaConfig, severity: str | None = None):
    """The one public-evidence-URL rule (lib/urls.public_evidence_url), under the run's IMPACT_ALLOW_PRIVATE_NETWORK."""
    public = public_evidence_url_sql("t.evidence_url", allow_private_network=config.allow_private_network)
    condition = "t.evidence_url IS NULL OR " + public
    return rule(_PUBLIC_LABEL, condition, show=("evidence_url",), **({"severity": severity} if severity else {}))


def _with_public_evidence(suite: Suite, severity: str | None = None) -> Suite:
    specs = list(suite.specs)
    return dataclasses.replace(suite, specs=lambda config: [*specs, _public_or_null(config, severity)])


SUITES = [
    _with_public_evidence(
        contract_suite(
            contract.USAGE_OBSERVATIONS,
            [
                non_negative("value"),
                in_set("unit", KNOWN_UNITS, label="unit is a known normalised unit"),
                in_set("source", SOURCES, label="source is a known adapter"),
                ordered("period_start", "period_end"),
                rule(
                    "a stock has no period start",
                    "NOT t.is_stock OR t.period_start IS NULL",
                    show=("is_stock", "period_start"),
                ),
            ],
        )
    ),
    contract_suite(
        contract.USAGE_SOURCE_STATUS,
        [
            in_set("status", ("ok", "empty", "error")),
            says_why("an error says why", "t.status <> 'error'", "error", "status"),
        ],
    ),
    _with_public_evidence(
        contract_suite(
            contract.YEARLY_REACH,
            [
                non_negative("value"),
                in_set("unit", REACH_UNITS),
                in_set("kind", ("users", "uses", "visits")),
                in_set("evidence_rank", DEFAULT_RANKING),
                rule(
                    "only a sum of unique visitors is an upper bound",
                    "NOT t.upper_bound OR t.evidence_rank = 'monthly_uniques_upper_bound'",
                    show=("upper_bound", "evidence_rank"),
                ),
            ],
        ),
        severity=WARN,
    ),
]
