"""Reading the quality sources' values: hosts, scores out of 10, percentages, text placeholders.

The observatoire and its raw measures (JDMA reviews, updown uptime) write the same figure in several
ways: `8.5`, `"8,5/10"`, `"8,5 / 10"`, `"85 %"`, `0.85` (a fraction), `"Conformité à 90%"`, `"99,95"`.
Text placeholders ("À venir", "Non applicable", "Nombre d'avis insuffisant") are neither numbers nor
failures: they read as None.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from urllib.parse import urlsplit

# Lower-cased, accent-free prefixes of the observatoire's text placeholders.
PLACEHOLDER_PREFIXES = (
    "a venir",
    "non applicable",
    "nombre d'avis insuffisant",
    "nombre d avis insuffisant",
    "bientot disponible",
    "non disponible",
    "en cours",
    "n/a",
    "na",
    "-",
)

_NUMBER_RE = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_SPACES_RE = re.compile(r"\s+")  # `\s`: every blank (lib/sql.WHITESPACE), no-break spaces included


def _fold(text: str) -> str:
    """Lower case, no accents, typographic apostrophes and spaces made plain."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return _SPACES_RE.sub(" ", text).strip().lower()


def is_placeholder(value: object) -> bool:
    """True for empty values and the observatoire's text placeholders (not a number, not a failure)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if not isinstance(value, str):
        return False
    return _is_placeholder_text(value)


# The observatoire repeats the same few labels and values across démarches and editions (tens of thousands
# of fields a run): fold each distinct text once.
@functools.lru_cache(maxsize=1 << 16)
def _is_placeholder_text(value: str) -> bool:
    folded = _fold(value)
    if not folded:
        return True
    return any(
        folded == p or folded.startswith(p + " ") or (len(p) > 3 and folded.startswith(p)) for p in PLACEHOLDER_PREFIXES
    )


def parse_number(value: object) -> float | None:
    """The first number in the value (`"8,5"` → 8.5; `"1 234"` → 1234), or None for placeholders and text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    if is_placeholder(value) or not isinstance(value, str):
        return None
    text = _SPACES_RE.sub(" ", value).strip()
    # "1 234" or "1 234 567": thousands separated by spaces
    text = re.sub(r"(?<=\d) (?=\d{3}\b)", "", text)
    match = _NUMBER_RE.search(text)
    if not match:
        return None
    return float(match.group(0).replace(",", "."))


def parse_score_10(value: object) -> float | None:
    """A score out of 10 (`8.5`, `"8,5/10"`, `"8,5 / 10"`); None when absent or outside 0–10."""
    number = parse_number(value)
    if number is None:
        return None
    if isinstance(value, str):
        match = re.search(r"([-+]?\d+(?:[.,]\d+)?)\s*/\s*(\d+(?:[.,]\d+)?)", value)
        if match:
            scale = float(match.group(2).replace(",", "."))
            if scale <= 0:
                return None
            number = float(match.group(1).replace(",", ".")) * 10.0 / scale
    return number if 0.0 <= number <= 10.0 else None


def parse_percent(value: object, *, fraction_if_at_most_one: bool = True) -> float | None:
    """A percentage 0–100: `"85 %"` → 85, `99.95` → 99.95, a fraction `0.85` → 85 (JDMA's contact_reachability).

    A bare number ≤ 1 is read as a fraction unless `fraction_if_at_most_one` is False (uptime 0.5 % is a
    percentage, not a fraction: callers that know their scale say so).
    """
    number = parse_number(value)
    if number is None:
        return None
    has_percent_sign = isinstance(value, str) and "%" in value
    if not has_percent_sign and fraction_if_at_most_one and 0.0 <= number <= 1.0:
        number *= 100.0
    return number if 0.0 <= number <= 100.0 else None


def parse_milliseconds(value: object) -> float | None:
    """A duration in ms: `394`, `"394 ms"`, `"0,4 s"` → 400."""
    number = parse_number(value)
    if number is None or number < 0:
        return None
    if isinstance(value, str):
        folded = _fold(value)
        if re.search(r"\d\s*s\b", folded) and "ms" not in folded:
            number *= 1000.0
    return number


# How each observatoire indicator's value reads as a number.
INDICATOR_PARSERS = {
    "satisfaction": parse_score_10,
    "simplicity": parse_score_10,
    "help_efficient": parse_score_10,
    "handicap": parse_percent,
    "help_reachable": parse_percent,
    "usage": parse_percent,
    "help_used": parse_percent,
    "uptime": lambda v: parse_percent(v, fraction_if_at_most_one=False),
    "performance": parse_milliseconds,
    "dlnuf": parse_number,
}


def indicator_number(indicator: str, value: object) -> float | None:
    """The numeric reading of an observatoire indicator's value (None for text such as `auth` or `online`)."""
    parser = INDICATOR_PARSERS.get(indicator)
    return parser(value) if parser else None


def normalize_host(url: object) -> str | None:
    """Host of a URL for joining: lower case, no scheme, no `www.`, no port, no trailing dot."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text:
        return None
    if "://" not in text:
        text = "http://" + text.lstrip("/")
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    return host or None
