"""Metabase public questions: `https://<mb>/public/question/<uuid>` → rows at
`https://<mb>/api/public/card/<uuid>/query/json` (a list of objects keyed by column display name).

A card has no semantics: which column is the date and which the value is configured per service, and
numbers may arrive as formatted strings (`"1 234"`, `"12 %"`).

Sources file entry (`type: metabase`): `question_url`, `value_column`, `unit`, `date_column` (or a fixed `year`),
`period`; `data_url` for a dashboard's card or an offline copy.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import model_validator

from impact_pipeline.defs.usage.adapters.base import (
    Adapter,
    Location,
    Read,
    ReadContext,
    SourceOptions,
    SourceSpec,
    check_one_of,
    instance_name,
)
from impact_pipeline.defs.usage.observations import (
    REACH_UNITS,
    Origin,
    Parsed,
    SourceError,
    parse_json,
    parse_number,
    parse_when,
    period_bounds,
)
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.http import is_local_path
from impact_pipeline.lib.urls import web_address

_PUBLIC = re.compile(r"^(?P<base>.*?)/public/question/(?P<uuid>[0-9a-fA-F-]{36})")
# A dashboard card's data URL: `<base>/api/public/dashboard/<uuid>/dashcard/<id>/card/<card id>`.
_DASHCARD = re.compile(
    r"^(?P<base>.*?)/api/public/dashboard/(?P<uuid>[0-9a-f-]{36})/dashcard/(?P<dashcard>\d+)/card/(?P<card>\d+)"
)


def card_data_url(question_url: str) -> tuple[str, str, str]:
    """(instance base URL, uuid, JSON data URL) of a public question URL; ValueError if it is not one."""
    m = _PUBLIC.match(question_url.strip())
    if not m:
        raise ValueError(f"not a Metabase public question URL: {question_url!r} (expected …/public/question/<uuid>)")
    base, uuid = m["base"].rstrip("/"), m["uuid"].lower()
    return base, uuid, question_data_url(base, uuid)


def question_data_url(base: str, uuid: str) -> str:
    """Where a public question's rows are read (`base` without its trailing slash, `uuid` in lower case)."""
    return f"{base}/api/public/card/{uuid}/query/json"


def question_name(base: str, uuid: str) -> str:
    """How reasons name a public question: its instance and the start of its uuid."""
    return f"{instance_name(base)} card {uuid[:8]}"


class MetabaseOptions(SourceOptions):
    type: Literal["metabase"] = "metabase"
    question_url: str
    value_column: str
    unit: str
    date_column: str | None = None
    year: int | None = None  # a card without a date column is one figure of this year
    indicator: str | None = None  # default: value_column
    data_url: Location | None = None  # a dashboard's card (its data URL), or an offline copy of the rows

    @model_validator(mode="after")
    def _dated_and_counted(self) -> MetabaseOptions:
        if not self.date_column and not self.year:
            raise ValueError("a metabase source needs date_column (or a fixed year)")
        # Checked here, after the date (not on the field): an entry missing both is told about its date first.
        check_one_of(self.unit, REACH_UNITS, "unit")
        return self


def reads(spec: SourceSpec, context: ReadContext) -> list[Read]:
    """One read of the card's rows (the question's data URL, or the configured `data_url`)."""
    options: MetabaseOptions = spec.options
    question = options.question_url
    try:
        base, uuid, data_url = card_data_url(question)
        ref = options.name or question_name(base, uuid)
    except ValueError:
        data_url, ref = question, options.name or question
    data_url = options.data_url or data_url
    evidence = web_address(options.evidence_url) or web_address(question)

    def parse(content: bytes, fetched_at: str) -> Parsed:
        from impact_pipeline.defs.usage.discovery import card_rows

        return parse_card_rows(
            card_rows(parse_json(content, "Metabase answer")),
            date_column=options.date_column,
            value_column=options.value_column,
            period=options.period or "month",
            unit=options.unit,
            indicator=options.indicator or options.value_column,
            origin=Origin(spec.startup_id, "metabase", ref, fetched_at, evidence),
            year=options.year,
        )

    local = bool(options.data_url) and is_local_path(data_url)
    return [Read(FetchRequest(data_url, "metabase", key=spec.startup_id), local, ref, parse)]


def parse_card_rows(
    document: Any,
    *,
    date_column: str | None,
    value_column: str,
    period: str,
    unit: str,
    indicator: str,
    origin: Origin,
    year: int | None = None,
) -> Parsed:
    """Observations from a card's JSON rows. Without a date column the card is one figure for `year`."""
    if isinstance(document, dict):  # Metabase answers errors as an object (`{"message"|"error": …}`)
        message = document.get("message") or document.get("error") or document.get("cause") or "an object"
        raise SourceError(f"Metabase did not answer rows: {str(message)[:300]}")
    if not isinstance(document, list):
        raise SourceError(f"Metabase answered a {type(document).__name__}, not a list of rows")
    parsed = Parsed()
    if document and isinstance(document[0], dict):
        columns = set(document[0])
        absent = [c for c in (date_column, value_column) if c and c not in columns]
        if absent:
            raise SourceError(
                f"column(s) {', '.join(map(repr, absent))} not in the card (has {', '.join(sorted(columns))})"
            )
    for i, row in enumerate(document, start=1):
        if not isinstance(row, dict):
            parsed.reject(f"row {i}: not an object")
            continue
        value, percent = parse_number(row.get(value_column))
        if value is None:
            parsed.reject(f"row {i}: {value_column} {row.get(value_column)!r} is not a number")
            continue
        if value < 0:
            parsed.reject(f"row {i}: {value_column} {row.get(value_column)!r} is negative")
            continue
        if date_column:
            when = parse_when(row.get(date_column))
            if when is None:
                parsed.reject(f"row {i}: {date_column} {row.get(date_column)!r} is not a date")
                continue
        elif year is not None:
            when = parse_when(year)
        else:
            raise SourceError("a card without a date column needs `year` in the sources file")
        start, end = period_bounds(when, period)
        parsed.observations.append(
            origin.observation(
                indicator=indicator,
                value=value,
                unit="percent" if percent else unit,
                period_start=start,
                period_end=end,
            )
        )
    return parsed


def proposal_keys(options: MetabaseOptions) -> list[tuple[str, str, str]]:
    """The discovered question this entry is, and the dashboard's card when it was accepted with its data URL."""
    keys = []
    m = _DASHCARD.search(options.data_url) if options.data_url else None
    if m:
        keys.append(("metabase_dashboard_card", m["base"], f"{m['uuid']}/{m['dashcard']}/{m['card']}"))
    try:
        base, uuid, _ = card_data_url(options.question_url)
        keys.append(("metabase_question", base, uuid))
    except ValueError:
        pass
    return keys


ADAPTER = Adapter(source="metabase", options=MetabaseOptions, reads=reads, proposal_keys=proposal_keys)
