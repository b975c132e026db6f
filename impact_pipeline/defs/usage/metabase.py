"""Metabase public questions: `https://<mb>/public/question/<uuid>` → rows at
`https://<mb>/api/public/card/<uuid>/query/json` (a list of objects keyed by column display name).

A card has no semantics: which column is the date and which the value is configured per service, and
numbers may arrive as formatted strings (`"1 234"`, `"12 %"`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from impact_pipeline.defs.usage.observations import (
    Observation,
    Parsed,
    SourceError,
    parse_number,
    parse_when,
    period_bounds,
)

_PUBLIC = re.compile(r"^(?P<base>.*?)/public/question/(?P<uuid>[0-9a-fA-F-]{36})")


def card_data_url(question_url: str) -> tuple[str, str, str]:
    """(instance base URL, uuid, JSON data URL) of a public question URL; ValueError if it is not one."""
    m = _PUBLIC.match(question_url.strip())
    if not m:
        raise ValueError(f"not a Metabase public question URL: {question_url!r} (expected …/public/question/<uuid>)")
    base = m["base"].rstrip("/")
    return base, m["uuid"].lower(), f"{base}/api/public/card/{m['uuid'].lower()}/query/json"


def instance_name(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts.netloc + parts.path.rstrip("/") if parts.netloc else base_url


def parse_card_rows(
    document: Any,
    *,
    date_column: str | None,
    value_column: str,
    period: str,
    unit: str,
    indicator: str,
    startup_id: str,
    source_ref: str,
    fetched_at: str,
    evidence_url: str | None,
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
            Observation(
                startup_id=startup_id,
                source="metabase",
                source_ref=source_ref,
                indicator=indicator,
                value=value,
                unit="percent" if percent else unit,
                period_start=start,
                period_end=end,
                evidence_url=evidence_url,
                fetched_at=fetched_at,
            )
        )
    return parsed
