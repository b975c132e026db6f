"""The reviewed sources file (`config/usage_sources.yaml`): which usage sources belong to which service.

`SourcesFile` is the model of the whole file; each entry of `services` is validated by the options model of the
adapter its `type` names (`adapters.ADAPTERS`). An error names the file, the line and the key path, and says what
was expected. Local paths (offline mirrors, the sample world) are allowed here, because a person reviewed this file;
they are resolved relative to it. URLs taken from the registry are never read as local paths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, BeforeValidator, Discriminator, Tag, ValidationError, create_model, model_validator

from impact_pipeline.defs.usage.adapters import ADAPTERS
from impact_pipeline.defs.usage.adapters.base import Location, Section, SourceOptions, SourceSpec


class SourcesConfigError(ValueError):
    pass


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


# --- the model of the file ------------------------------------------------------------------------------------

Text = Annotated[str, BeforeValidator(str)]  # ids and names YAML may read as numbers


class Datagouv(Section):
    aliases: dict[Text, Text] = {}  # service name in the files → startup_id
    ignore_datasets: list[Text] = []


class Discovery(Section):
    fetch_registry_pages: bool = True
    mirrors: dict[Text, Location] = {}  # a URL discovery would fetch → its reviewed local copy


class Rejection(BaseModel):
    """A proposal a person rejected (`service`, `source`, `on` are for the reader)."""

    proposal: Text
    why: Text

    @model_validator(mode="before")
    @classmethod
    def _decided(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("proposal") or not str(data.get("why") or "").strip():
            raise ValueError("needs `proposal` and `why`")
        return {"proposal": data["proposal"], "why": data["why"]}


class SourcesFile(Section):
    version: Text | None = None
    first_year: int = 2016  # earliest year asked from multi-year APIs
    services: dict[Text, list[SourceOptions]] = {}  # each entry: the options model of its type (`file_model`)
    datagouv: Datagouv = Datagouv()
    discovery: Discovery = Discovery()
    rejected: list[Rejection] = []


def _type_of(entry: Any) -> Any:
    return entry.get("type") if isinstance(entry, dict) else getattr(entry, "type", None)


@functools.lru_cache
def _file_model(adapters: tuple[tuple[str, type[SourceOptions]], ...]) -> type[SourcesFile]:
    tagged = tuple(Annotated[options, Tag(kind)] for kind, options in adapters)
    entry = Annotated[Union[tagged], Discriminator(_type_of)]  # noqa: UP007 (a union of a runtime tuple)
    return create_model("SourcesFile", __base__=SourcesFile, services=(dict[Text, list[entry]], {}))


def file_model() -> type[SourcesFile]:
    """`SourcesFile` whose entries are validated by the registered adapters' options models."""
    return _file_model(tuple((kind, adapter.options) for kind, adapter in ADAPTERS.items()))


def _key_path(loc: tuple) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in loc).lstrip(".")


def _line_at(document: Any, loc: tuple) -> int:
    """1-based line of the deepest node of `loc` found in a round-trip document."""
    node, line = document, 1
    for step in loc:
        if isinstance(node, dict) and step in node and hasattr(node, "lc"):
            line, node = node.lc.key(step)[0] + 1, node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node) and hasattr(node, "lc"):
            line, node = node.lc.item(step)[0] + 1, node[step]
        else:
            break
    return line


def _what(errors: list[dict], entry: bool) -> str:
    """What was expected, from pydantic's errors about one place (an entry's make one sentence)."""
    if any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in errors):
        return f"`type` must be one of {', '.join(ADAPTERS)}"
    said: list[str] = []
    missing = [str(e["loc"][4]) for e in errors if entry and e["type"] == "missing" and len(e["loc"]) == 5]
    if missing:
        said.append(f"a {errors[0]['loc'][3]} source needs {', '.join(missing)}")
    for e in errors:
        where = e["loc"][4:] if entry else ()
        if e["type"] == "value_error":
            said.append(str(e["ctx"]["error"]))
        elif not (entry and e["type"] == "missing"):
            said.append(f"{_key_path(where)}: {e['msg']}" if where else e["msg"])
    return "; ".join(dict.fromkeys(said))


def _validate(data: Any, path: Path, document: Callable[[], Any]) -> tuple[SourcesConfig | None, list[str]]:
    """The file's configuration, or every error as `line N: key path: what was expected` (None then)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, ["line 1: expected a mapping at the top level"]
    try:
        parsed = file_model().model_validate(data, context={"base": path.resolve().parent})
    except ValidationError as exc:
        places: dict[tuple, list[dict]] = {}
        for error in exc.errors():
            loc = error["loc"]
            places.setdefault(loc[:3] if loc[0] == "services" and len(loc) >= 3 else loc, []).append(error)
        doc = document()
        messages = []
        for loc, errors in places.items():
            what = _what(errors, entry=loc[0] == "services" and len(loc) == 3)
            # "rejected[0] needs …" reads as a sentence; other messages follow the key path after a colon.
            messages.append(
                f"line {_line_at(doc, loc)}: {_key_path(loc)}{' ' if what.startswith('needs ') else ': '}{what}"
            )
        return None, messages
    return SourcesConfig(
        path=str(path),
        first_year=parsed.first_year,
        services={sid: [SourceSpec(sid, options) for options in entries] for sid, entries in parsed.services.items()},
        datagouv_aliases=dict(parsed.datagouv.aliases),
        datagouv_ignore=tuple(parsed.datagouv.ignore_datasets),
        discovery_mirrors=dict(parsed.discovery.mirrors),
        discovery_registry_pages=parsed.discovery.fetch_registry_pages,
        rejected={r.proposal: r.why for r in parsed.rejected},
    ), []


def load_sources(path: str | Path | None) -> SourcesConfig:
    """The parsed file; an absent path means no source configured (every service's (b) says so)."""
    if not path:
        return SourcesConfig(path=None)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise SourcesConfigError(f"usage sources file {path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SourcesConfigError(f"usage sources file {path}: not valid YAML ({exc})") from exc
    config, errors = _validate(data, path, lambda: _round_trip().load(text))
    if errors:
        raise SourcesConfigError(f"{path}: {errors[0]}")
    return config


# --- the review loop: check the file, write accepted sources and rejections (comments and order kept) --------


def _round_trip():
    from ruamel.yaml import YAML

    yaml_rt = YAML()  # round-trip: comments, key order and quoting survive a load and a dump
    yaml_rt.preserve_quotes = True
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    yaml_rt.width = 4096
    return yaml_rt


def check_file(path: str | Path) -> list[str]:
    """Every error of the sources file, each as `line N: what is wrong` (an empty list: the file is valid)."""
    from ruamel.yaml.error import MarkedYAMLError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"cannot read {path} ({exc.strerror})"]
    try:
        document = _round_trip().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return [f"line {mark.line + 1 if mark else '?'}: not valid YAML ({exc.problem or exc.context})"]
    try:
        data = yaml.safe_load(text)  # what the pipeline reads (YAML 1.1, as load_sources)
    except yaml.YAMLError as exc:
        return [f"not valid YAML ({exc})"]
    return _validate(data, path, lambda: document)[1]


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
