"""The reviewed sources file (`config/usage_sources.yaml`): which usage sources belong to which service.

Local paths (for offline mirrors and the sample world) are allowed here, because a person reviewed this
file; they are resolved relative to the file. URLs taken from the registry are never read as local paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from impact_pipeline.defs.usage.observations import KNOWN_UNITS, REACH_UNITS
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
    rejected: dict[str, str] = field(default_factory=dict)  # proposal id → why a person rejected it

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
        rejected={
            str(r.get("proposal")): str(r.get("why") or "") for r in data.get("rejected") or () if isinstance(r, dict)
        },
    )


# --- the review loop: check the file, write accepted sources and rejections (comments and order kept) --------


def _round_trip():
    from ruamel.yaml import YAML

    yaml_rt = YAML()  # round-trip: comments, key order and quoting survive a load and a dump
    yaml_rt.preserve_quotes = True
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    yaml_rt.width = 4096
    return yaml_rt


def _line(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key (or of the node itself) in a round-trip document."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        return (lc.key(key)[0] if key is not None and hasattr(node, "keys") else lc.line) + 1
    except (KeyError, TypeError, IndexError):
        return lc.line + 1


def check_file(path: str | Path) -> list[str]:
    """Every error of the sources file, each as `line N: what is wrong` (an empty list: the file is valid)."""
    from ruamel.yaml.error import MarkedYAMLError

    path = Path(path)
    try:
        data = _round_trip().load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"cannot read {path} ({exc.strerror})"]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return [f"line {mark.line + 1 if mark else '?'}: not valid YAML ({exc.problem or exc.context})"]
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["line 1: expected a mapping at the top level"]
    errors = []
    services = data.get("services") or {}
    if not isinstance(services, dict):
        return [f"line {_line(data, 'services')}: services must map service ids to lists of sources"]
    for startup_id, entries in services.items():
        if not isinstance(entries, list):
            errors.append(f"line {_line(services, startup_id)}: services.{startup_id} must be a list of sources")
            continue
        for i, entry in enumerate(entries):
            where = f"line {_line(entry) or _line(services, startup_id)}: services.{startup_id}[{i}]"
            if not isinstance(entry, dict) or entry.get("type") not in TYPES:
                errors.append(f"{where}: `type` must be one of {', '.join(TYPES)}")
                continue
            try:
                _check(
                    SourceSpec(str(startup_id), entry["type"], {k: v for k, v in entry.items() if k != "type"}), where
                )
            except SourcesConfigError as exc:
                errors.append(str(exc))
    rejected = data.get("rejected") or []
    if not isinstance(rejected, list):
        errors.append(f"line {_line(data, 'rejected')}: rejected must be a list")
    else:
        for i, record in enumerate(rejected):
            if not isinstance(record, dict) or not record.get("proposal") or not str(record.get("why") or "").strip():
                errors.append(
                    f"line {_line(record) or _line(data, 'rejected')}: rejected[{i}] needs `proposal` and `why`"
                )
    try:
        load_sources(path)  # whatever else the pipeline would refuse
    except SourcesConfigError as exc:
        if not errors:
            errors.append(str(exc))
    return errors


def _edit(path: Path, change) -> None:
    """Load the file round-trip, apply `change(document)`, and write it back atomically."""
    import io
    import os

    from ruamel.yaml.comments import CommentedMap

    yaml_rt = _round_trip()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    document = yaml_rt.load(text) if text.strip() else None
    if document is None:
        document = CommentedMap()
    change(document)
    out = io.StringIO()
    yaml_rt.dump(document, out)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def _block(document, key: str, empty):
    """document[key] as a block-style collection (an empty `{}`/`[]` in the file becomes one)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node = document.get(key)
    if not isinstance(node, (CommentedMap, CommentedSeq)):
        node = CommentedMap() if empty is dict else CommentedSeq()
        if key in document:
            document[key] = node
        else:
            document.insert(len(document), key, node)
    node.fa.set_block_style()
    return node


def _take_trailing(node: Any):
    """Detach the full-line comments that follow a collection's last value (ruamel keeps them on its deepest last
    key, so an appended item would land below them); an inline comment on that line stays where it is."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedSeq) and len(node):
        return _take_trailing(node[-1])
    if not isinstance(node, CommentedMap) or not len(node):
        return None
    last = list(node.keys())[-1]
    if isinstance(node[last], (CommentedMap, CommentedSeq)) and len(node[last]):
        return _take_trailing(node[last])
    item = node.ca.items.get(last)
    token = item[2] if item and len(item) > 2 else None
    if token is None or "\n" not in token.value:
        return None
    inline, rest = token.value.split("\n", 1)
    if not rest:
        return None
    token.value = inline + "\n"
    return rest


def _append(container: Any, value: Any, key: Any = None) -> None:
    """Append to a block collection, keeping the comments that followed its old last item after the new one."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    rest = _take_trailing(container)
    if key is None:
        container.append(value)
    else:
        container[key] = value
    holder = value  # the new item's deepest last key carries them, as ruamel would have read them
    while (
        isinstance(holder, CommentedSeq)
        and len(holder)
        or isinstance(holder, CommentedMap)
        and len(holder)
        and isinstance(holder[list(holder)[-1]], (CommentedMap, CommentedSeq))
    ):
        holder = holder[-1] if isinstance(holder, CommentedSeq) else holder[list(holder)[-1]]
    if rest and isinstance(holder, CommentedMap) and len(holder):
        last = list(holder)[-1]
        holder.ca.items[last] = [None, None, CommentToken("\n" + rest, CommentMark(0), None), None]


def add_source(path: str | Path, startup_id: str, entry: dict[str, Any], comment: str) -> None:
    """Append a reviewed source to `services.<startup_id>`, with a comment saying where it came from."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def change(document):
        services = _block(document, "services", dict)
        item = CommentedMap(entry)
        item.yaml_set_start_comment(comment, indent=4)
        entries = services.get(startup_id)
        if isinstance(entries, CommentedSeq):
            _append(entries, item)
        else:
            _append(services, CommentedSeq([item]), key=startup_id)

    _edit(Path(path), change)


def add_rejection(path: str | Path, record: dict[str, Any]) -> None:
    """Record a rejected proposal under `rejected`: discovery does not offer it again."""
    from ruamel.yaml.comments import CommentedMap

    _edit(Path(path), lambda document: _append(_block(document, "rejected", list), CommentedMap(record)))
