"""The reviewed criteria config file: load it, check it, and name its version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from impact_pipeline.defs.registry.phases import LIFECYCLE_RANK


class CriteriaConfigError(ValueError):
    pass


@dataclass(frozen=True)
class CriteriaConfig:
    version: str  # declared version + hash of the file, e.g. "2026.1+3f2a9c1b"
    first_year: int
    qualifying_phases: tuple[str, ...]
    min_yearly_reach: float
    no_usage_reason: str
    no_quality_reason: str
    designation_event: str
    deferred_from_year: int
    deferred_until_month: int
    raw: dict[str, Any]
    path: str
    # IMPACT_ALLOW_PRIVATE_NETWORK=1 (not from the file): private addresses count as public evidence URLs
    # (`lib/urls.public_evidence_url`), for the rules and the gates alike.
    allow_private_network: bool = False

    def designation_year(self, event_year: int, event_month: int) -> int:
        """The year a designation event designates (early-year events since 2022 designate N-1)."""
        if event_year >= self.deferred_from_year and event_month <= self.deferred_until_month:
            return event_year - 1
        return event_year


def _get(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise CriteriaConfigError(f"criteria config: missing `{dotted}`")
        node = node[part]
    return node


def load_criteria(path: str | Path) -> CriteriaConfig:
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise CriteriaConfigError(f"criteria config {path}: cannot read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise CriteriaConfigError(f"criteria config {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise CriteriaConfigError(f"criteria config {path}: expected a mapping at the top level")
    qualifying = tuple(_get(data, "criteria.a.qualifying_phases"))
    unknown = [p for p in qualifying if p not in LIFECYCLE_RANK]
    if unknown:
        raise CriteriaConfigError(f"criteria config {path}: qualifying phases not in the 2026 vocabulary: {unknown}")
    try:
        config = CriteriaConfig(
            version=f"{_get(data, 'version')}+{hashlib.sha256(raw_bytes).hexdigest()[:8]}",
            first_year=int(_get(data, "years.first")),
            qualifying_phases=qualifying,
            min_yearly_reach=float(_get(data, "criteria.b.min_yearly_reach")),
            no_usage_reason=str(_get(data, "criteria.b.no_source_reason")),
            no_quality_reason=str(_get(data, "criteria.c.no_source_reason")),
            designation_event=str(_get(data, "designation.event_name")),
            deferred_from_year=int(_get(data, "designation.deferred_from_year")),
            deferred_until_month=int(_get(data, "designation.deferred_until_month")),
            raw=data,
            path=str(path),
        )
    except (TypeError, ValueError) as exc:
        raise CriteriaConfigError(f"criteria config {path}: {exc}") from exc
    if not 1 <= config.deferred_until_month <= 12:
        raise CriteriaConfigError(f"criteria config {path}: designation.deferred_until_month must be 1..12")
    return config
