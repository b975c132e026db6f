"""The reviewed criteria config file (`config/criteria.yaml`) as a typed model: its defaults, its checks, its version.

It lives below the domains: the (a), (b) and (c) rules of `impact`, `usage` and `quality`, and the gates, all read
their part of it as typed attributes (`config.criteria.b.min_yearly_reach`) mirroring the file's key paths. An
error names the file, the key path and what was expected.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from impact_pipeline.defs.registry.phases import LIFECYCLE_RANK

Verdict = Literal["pass", "fail", "unknown", "not_applicable"]
# Best evidence first (criteria.b.evidence_ranking's default and the ranks a yearly_reach row may carry).
EVIDENCE_RANKING: tuple[str, ...] = ("measured_users", "measured_uses", "monthly_uniques_upper_bound", "declared")


class CriteriaConfigError(ValueError):
    pass


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored rule.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Years(_Section):
    first: int


class CriterionA(_Section):
    title: str = ""
    qualifying_phases: tuple[str, ...]

    @field_validator("qualifying_phases")
    @classmethod
    def _known_phases(cls, phases: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in phases if p not in LIFECYCLE_RANK]
        if unknown:
            raise ValueError(f"names phases not in the 2026 vocabulary: {unknown} (known: {', '.join(LIFECYCLE_RANK)})")
        return phases


class DiscoveredSources(_Section):
    may_pass: bool = True
    may_fail: bool = False


class CriterionB(_Section):
    title: str = ""
    min_yearly_reach: float
    evidence_ranking: tuple[str, ...] = EVIDENCE_RANKING
    no_source_reason: str
    discovered_sources: DiscoveredSources = DiscoveredSources()


class CurrentChecks(_Section):
    valid_into_next_year_months: int = Field(default=6, ge=0, le=12)
    apply_to_past_years: bool = False

    @field_validator("apply_to_past_years")
    @classmethod
    def _removed(cls, value: bool) -> bool:
        if value:  # judging 2021 on a check made today is a guess; past years read dated observations instead
            raise ValueError(
                "was removed: every year is judged on the observations of its own evidence window "
                "(registry history, web archive, dated checks)"
            )
        return value


class ObservatoireGoals(_Section):
    min_goals_reached: int = 3


class Accessibility(_Section):
    passing_statuses: tuple[str, ...] = ("totalement conforme", "partiellement conforme")
    missing_verdict: Verdict = "fail"


class ProductEvolving(_Section):
    min_commits: int = 1


class ResourcesShared(_Section):
    no_repository_verdict: Verdict = "unknown"


class ImpactStatistics(_Section):
    missing_verdict: Verdict = "fail"


class TeamAnswering(_Section):
    min_help_reachable: float = 85
    weak_signals_pass: bool = True


class SubCriteria(_Section):
    """Criterion (c)'s six sub-criteria, in the order the evidence lists them."""

    observatoire_goals: ObservatoireGoals = ObservatoireGoals()
    accessibility: Accessibility = Accessibility()
    product_evolving: ProductEvolving = ProductEvolving()
    resources_shared: ResourcesShared = ResourcesShared()
    impact_statistics: ImpactStatistics = ImpactStatistics()
    team_answering: TeamAnswering = TeamAnswering()


class CriterionC(_Section):
    title: str = ""
    no_source_reason: str
    required: tuple[str, ...] = (
        "accessibility",
        "product_evolving",
        "resources_shared",
        "impact_statistics",
        "team_answering",
    )
    current_checks: CurrentChecks = CurrentChecks()
    sub_criteria: SubCriteria = SubCriteria()

    @field_validator("required")
    @classmethod
    def _known_sub_criteria(cls, required: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in required if r not in SubCriteria.model_fields]
        if unknown:
            raise ValueError(f"names unknown sub-criteria: {unknown} (known: {', '.join(SubCriteria.model_fields)})")
        return required


class Criteria(_Section):
    a: CriterionA
    b: CriterionB
    c: CriterionC


class Designation(_Section):
    event_name: str
    deferred_from_year: int
    deferred_until_month: int = Field(ge=1, le=12)

    def designation_year(self, event_year: int, event_month: int) -> int:
        """The year a designation event designates (early-year events since 2022 designate N-1)."""
        if event_year >= self.deferred_from_year and event_month <= self.deferred_until_month:
            return event_year - 1
        return event_year


class CriteriaConfig(_Section):
    """The whole file. Not from the file: its path, its content's hash and IMPACT_ALLOW_PRIVATE_NETWORK."""

    model_config = ConfigDict(coerce_numbers_to_str=True)  # `version: 2026.2` reads as the text it shows
    version: str
    years: Years
    criteria: Criteria
    designation: Designation
    _path: str = PrivateAttr(default="")
    _digest: str = PrivateAttr(default="")
    _allow_private_network: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise ValueError("expected a mapping at the top level")
        return data

    @property
    def criteria_version(self) -> str:
        """Declared version + hash of the file, e.g. "2026.1+3f2a9c1b": recorded with every verdict."""
        return f"{self.version}+{self._digest}"

    @property
    def path(self) -> str:
        return self._path

    @property
    def allow_private_network(self) -> bool:
        """IMPACT_ALLOW_PRIVATE_NETWORK=1: private addresses count as public evidence URLs (`lib/urls`), for the
        rules and the gates alike."""
        return self._allow_private_network

    @classmethod
    def parse(
        cls, content: bytes, path: str | Path = "<text>", *, allow_private_network: bool = False
    ) -> CriteriaConfig:
        """The config in `content` (the bytes of a criteria file); CriteriaConfigError names what is wrong."""
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise CriteriaConfigError(f"criteria config {path}: not valid YAML ({exc})") from exc
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise CriteriaConfigError(f"criteria config {path}: {_problems(exc)}") from None
        config._path = str(path)
        config._digest = hashlib.sha256(content).hexdigest()[:8]
        config._allow_private_network = allow_private_network
        return config


def _problems(error: ValidationError) -> str:
    """Each problem as `<key path>: <what was expected>`, e.g. "criteria.b.min_yearly_reach: Input should be a valid
    number, got 'lots'"; our own checks read after the key path ("criteria.c.required names unknown …")."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "value_error":
            problems.append(f"{where} {str(item['ctx']['error'])}" if item["loc"] else str(item["ctx"]["error"]))
        elif item["type"] == "missing":
            problems.append(f"{where}: missing (required)")
        elif item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
        else:
            problems.append(f"{where}: {item['msg']}, got {item['input']!r}")
    return "; ".join(problems)


def load_criteria(path: str | Path, *, allow_private_network: bool = False) -> CriteriaConfig:
    """The criteria config of the file at `path`."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise CriteriaConfigError(f"criteria config {path}: cannot read ({exc.strerror})") from exc
    return CriteriaConfig.parse(content, path, allow_private_network=allow_private_network)
