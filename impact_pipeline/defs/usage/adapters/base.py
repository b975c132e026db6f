"""What a usage adapter is made of: the options model validating its entry of the sources file, its reads (the
requests it makes and how each answer is parsed), and the source kind its observations carry.

The adapter modules import this one, and `adapters/__init__.py` registers them in `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, model_validator

from impact_pipeline.defs.usage.observations import Parsed
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.http import is_local_path, redact_url
from impact_pipeline.lib.urls import web_address

Period = Literal["year", "quarter", "month", "week", "day"]
PERIODS: tuple[str, ...] = get_args(Period)


def resolve(value: str, base: Path) -> str:
    """Local paths relative to the sources file become absolute; URLs are kept."""
    if is_local_path(value) and not value.lower().startswith("file:"):
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def _against_the_file(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base")
    return resolve(value, base) if base else value


# A URL, or a local path a person reviewed (an offline copy), resolved relative to the sources file.
Location = Annotated[str, AfterValidator(_against_the_file)]


class Section(BaseModel):
    """A mapping of the sources file: unknown keys are refused, and `key:` or `key: ""` means "not given"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None and v != ""} if isinstance(data, dict) else data


class SourceOptions(Section):
    """The options every source type takes; each adapter's model adds its own."""

    type: str
    name: str | None = None  # how reasons name the source (default: from its URL)
    evidence_url: str | None = None  # the public page a person opens to check the figures
    period: Period | None = None


def check_one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    """The value, if it is one of `allowed`; else a ValueError saying which they are."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}")
    return value


def one_of(allowed: tuple[str, ...], what: str) -> AfterValidator:
    """A field check: the value is one of `allowed` (`check_one_of`)."""
    return AfterValidator(lambda value: check_one_of(value, allowed, what))


class FileOptions(SourceOptions):
    """A source that is one file at a URL (or a reviewed local copy of it)."""

    url: Location

    def named(self) -> tuple[str, str | None]:
        """(source_ref, evidence URL): its name in reasons, and the page a person opens (else the file's public URL)."""
        evidence = web_address(self.evidence_url)
        return self.name or display_name(self.url, evidence), evidence or web_address(self.url)


@dataclass(frozen=True)
class SourceSpec:
    """One source of one service, as the sources file (or discovery) gives it."""

    startup_id: str
    options: SourceOptions

    @property
    def type(self) -> str:
        return self.options.type


@dataclass(frozen=True)
class ReadContext:
    """What a source's requests depend on besides its options."""

    first_year: int  # earliest year asked from multi-year APIs
    today: date
    tokens: Mapping[str, str]  # secrets by environment variable name (Matomo tokens)


@dataclass
class Read:
    """One request of a source and how its answer becomes observations."""

    request: FetchRequest
    local: bool  # a reviewed local path, read without HTTP
    source_ref: str
    # (content, fetched_at) -> Parsed; None for a read whose answer its caller reads (discovery's pages, listings)
    parse: Callable[[bytes, str], Parsed] | None = None


def no_proposal(options: SourceOptions) -> list[tuple[str, str, str]]:
    """A source type discovery never proposes."""
    return []


@dataclass(frozen=True)
class Adapter:
    """A source type: the model of its entry in the sources file, the reads an entry makes, and the discovery
    proposals an entry already is (`discovery.Proposal.key`: kind, instance, identifier), which discovery then lists
    as reviewed instead of offering them again."""

    source: str  # usage_observations.source of its rows
    options: type[SourceOptions]
    reads: Callable[[SourceSpec, ReadContext], list[Read]]
    proposal_keys: Callable[[Any], list[tuple[str, str, str]]] = no_proposal


def instance_name(base_url: str) -> str:
    """How reasons name a Matomo or Metabase instance: its host and path, without the scheme."""
    parts = urlsplit(base_url)
    return (parts.netloc + parts.path.rstrip("/")) if parts.netloc else base_url.rstrip("/")


def display_name(url: str, evidence_url: str | None) -> str:
    """How a file source is named in reasons: its public URL, else its evidence page, else its file name."""
    if web_address(url):
        return redact_url(url)
    return evidence_url or Path(url).name
