"""The reviewed sources file (`config/usage_sources.yaml`): which usage sources belong to which service.

Local paths (for offline mirrors and the sample world) are allowed here, because a person reviewed this
file; they are resolved relative to the file. URLs taken from the registry are never read as local paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from impact_pipeline.defs.usage.observations import REACH_UNITS, KNOWN_UNITS
from impact_pipeline.lib.http import is_local_path

TYPES = ("impact_csv", "matomo", "metabase", "json")
PERIODS = ("year", "quarter", "month", "week", "day")


class SourcesConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SourceSpec:
    startup_id: str
    type: str
    options: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True)
class SourcesConfig:
    path: str | None
    first_year: int = 2016
    services: dict[str, list[SourceSpec]] = field(default_factory=dict)
    datagouv_aliases: dict[str, str] = field(default_factory=dict)  # service name in files → startup_id
    datagouv_ignore: tuple[str, ...] = ()  # dataset ids not to read
    discovery_mirrors: dict[str, str] = field(default_factory=dict)  # stats_url → local copy
    discovery_registry_pages: bool = True  # fetch stats pages that have no mirror

    @property
    def all_sources(self) -> list[SourceSpec]:
        return [s for specs in self.services.values() for s in specs]


def _resolve(value: str, base: Path) -> str:
    """Local paths relative to the sources file become absolute; URLs are kept."""
    if is_local_path(value) and not value.lower().startswith("file:"):
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def _check(spec: SourceSpec, where: str) -> None:
    def need(*keys: str) -> None:
        absent = [k for k in keys if spec.get(k) in (None, "")]
        if absent:
            raise SourcesConfigError(f"{where}: a {spec.type} source needs {', '.join(absent)}")

    if spec.type == "impact_csv":
        need("url")
        bad = {k: v for k, v in (spec.get("indicators") or {}).items() if v not in KNOWN_UNITS}
        if bad:
            raise SourcesConfigError(f"{where}: indicators map to unknown units {bad} (use {', '.join(KNOWN_UNITS)})")
    elif spec.type == "matomo":
        need("base_url", "site_id")
        if not str(spec.get("site_id")).isdigit():
            raise SourcesConfigError(f"{where}: site_id must be a number")
    elif spec.type == "metabase":
        need("question_url", "value_column", "unit")
        if not spec.get("date_column") and not spec.get("year"):
            raise SourcesConfigError(f"{where}: a metabase source needs date_column (or a fixed year)")
    elif spec.type == "json":
        need("url", "value_path", "unit")
    if spec.type in ("metabase", "json") and spec.get("unit") not in REACH_UNITS:
        raise SourcesConfigError(f"{where}: unit must be one of {', '.join(REACH_UNITS)}")
    if spec.get("period", "year") not in PERIODS:
        raise SourcesConfigError(f"{where}: period must be one of {', '.join(PERIODS)}")


def load_sources(path: str | Path | None) -> SourcesConfig:
    """The parsed file; an absent path means no source configured (every service's (b) says so)."""
    if not path:
        return SourcesConfig(path=None)
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SourcesConfigError(f"usage sources file {path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SourcesConfigError(f"usage sources file {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SourcesConfigError(f"usage sources file {path}: expected a mapping at the top level")
    base = path.resolve().parent
    services: dict[str, list[SourceSpec]] = {}
    for startup_id, entries in (data.get("services") or {}).items():
        if not isinstance(entries, list):
            raise SourcesConfigError(f"{path}: services.{startup_id} must be a list of sources")
        specs = []
        for i, entry in enumerate(entries):
            where = f"{path}: services.{startup_id}[{i}]"
            if not isinstance(entry, dict) or entry.get("type") not in TYPES:
                raise SourcesConfigError(f"{where}: `type` must be one of {', '.join(TYPES)}")
            options = {k: v for k, v in entry.items() if k != "type"}
            for key in ("url", "offline_response", "offline_monthly_response", "data_url"):
                if isinstance(options.get(key), str):
                    options[key] = _resolve(options[key], base)
            spec = SourceSpec(str(startup_id), entry["type"], options)
            _check(spec, where)
            specs.append(spec)
        services[str(startup_id)] = specs
    datagouv = data.get("datagouv") or {}
    discovery = data.get("discovery") or {}
    return SourcesConfig(
        path=str(path),
        first_year=int(data.get("first_year", 2016)),
        services=services,
        datagouv_aliases={str(k): str(v) for k, v in (datagouv.get("aliases") or {}).items()},
        datagouv_ignore=tuple(str(x) for x in datagouv.get("ignore_datasets") or ()),
        discovery_mirrors={str(k): _resolve(str(v), base) for k, v in (discovery.get("mirrors") or {}).items()},
        discovery_registry_pages=bool(discovery.get("fetch_registry_pages", True)),
    )
