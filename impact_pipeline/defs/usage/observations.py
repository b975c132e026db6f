"""The long table every usage adapter produces, and the small parsers they share (numbers, dates, paths).

Pure functions, no I/O: each adapter turns a source's answer into `Observation`s plus a list of problems
(malformed rows are reported and left out; the rest is kept).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

# Normalised units of usage_observations.unit. Only the first four can measure a yearly reach.
REACH_UNITS = ("users", "visitors", "visits", "uses")
KNOWN_UNITS = (*REACH_UNITS, "count", "percent", "other")


@dataclass
class Observation:
    startup_id: str
    source: str
    source_ref: str
    indicator: str
    value: float
    unit: str
    period_end: date
    period_start: date | None = None
    type_indicateur: str | None = "usage"
    is_target: bool = False
    is_stock: bool = False
    evidence_url: str | None = None
    fetched_at: str | None = None
    not_computed: bool = False  # the source printed 0 for a metric it does not compute: never a measure

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Parsed:
    """What an adapter made of one answer: observations kept, problems reported (one line each)."""

    observations: list[Observation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    n_rejected: int = 0

    def reject(self, problem: str) -> None:
        self.n_rejected += 1
        self.problems.append(problem)


@dataclass(frozen=True)
class Origin:
    """What every observation of one answer shares: whose figures they are and where they come from."""

    startup_id: str
    source: str
    source_ref: str
    fetched_at: str
    evidence_url: str | None = None

    def observation(self, **figure: Any) -> Observation:
        """An observation of this answer; `figure` gives indicator, value, unit, period (and may override evidence)."""
        return Observation(**{**asdict(self), **figure})


class SourceError(Exception):
    """The source answered, but not with usable data (an error body, a wrong shape): the whole source fails."""


def parse_json(content: bytes, what: str) -> Any:
    """The JSON document of an answer; SourceError naming `what` (e.g. "Matomo answer") when it is not JSON."""
    import json

    try:
        return json.loads(content)
    except ValueError:
        raise SourceError(f"{what} is not JSON") from None


# --- numbers -------------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s']")  # `\s`: every blank (lib/sql.WHITESPACE), thin and no-break spaces included
_EN_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")


def parse_number(value: Any) -> tuple[float | None, bool]:
    """A number from JSON or formatted text: `1234`, `"1 234"`, `"1\u202f234,5"`, `"1,234.5"`, `"12 %"`.

    Returns (number, is_percent); (None, False) when it is not a number. A lone comma is a decimal comma
    (French) unless it groups thousands exactly (`"1,234"`, the English formatting Metabase also uses).
    """
    if isinstance(value, bool) or value is None:
        return None, False
    if isinstance(value, (int, float)):
        return (float(value), False) if value == value else (None, False)
    if not isinstance(value, str):
        return None, False
    text = _SPACES.sub("", value.strip())
    percent = text.endswith("%")
    text = text.rstrip("%")
    if not text:
        return None, False
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):  # 1.234,5
            text = text.replace(".", "").replace(",", ".")
        else:  # 1,234.5
            text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", "") if _EN_THOUSANDS.match(text) else text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None, False
    if number != number or number in (float("inf"), float("-inf")):
        return None, False
    return number, percent


# --- dates and periods ---------------------------------------------------------------------------

_MONTHS = {
    **{
        unicodedata.normalize("NFKD", m).encode("ascii", "ignore").decode().lower(): i
        for i, m in enumerate(
            [
                "",
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ]
        )
        if m
    },
    **{m.lower(): i for i, m in enumerate(calendar.month_name) if m},
    **{m.lower(): i for i, m in enumerate(calendar.month_abbr) if m},
    "janv": 1,
    "fevr": 2,
    "avr": 4,
    "juil": 7,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def parse_day(value: Any) -> date | None:
    """A strict ISO `YYYY-MM-DD` (the impact schema's date format), else None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None


def parse_when(value: Any) -> date | None:
    """The first day of whatever a dashboard prints: ISO dates or datetimes, `2024`, `2 024` (a year formatted as a
    number), `2024-03`, `March, 2024`, `mars 2024`, `January 1, 2024`. None when unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1900 <= value <= 2200:
        return date(int(value), 1, 1)
    if not isinstance(value, str):
        return None
    text = value.strip()
    # A year column formatted as a number: `2 021`, `2\u00a0021`, `2\u202f021` (French), `2,021` (English).
    grouped = re.fullmatch(r"(\d)[\s,'](\d{3})", text)
    if grouped:
        text = grouped[1] + grouped[2]
    if re.fullmatch(r"\d{4}", text):
        return date(int(text), 1, 1) if 1900 <= int(text) <= 2200 else None
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if m:
        return date(int(m[1]), int(m[2]), 1) if 1 <= int(m[2]) <= 12 else None
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    words = re.findall(r"[^\W\d_]+|\d+", _ascii(text))
    month = next((_MONTHS[w.rstrip(".")] for w in words if w.rstrip(".") in _MONTHS), None)
    numbers = [int(w) for w in words if w.isdigit()]
    years = [n for n in numbers if n >= 1900]
    if month and years:
        days = [n for n in numbers if 1 <= n <= 31]
        try:
            return date(years[0], month, days[0] if days else 1)
        except ValueError:
            return None
    return None


def period_bounds(start: date, period: str) -> tuple[date, date]:
    """The period (`year`, `quarter`, `month`, `week`, `day`) that begins on `start`."""
    from datetime import timedelta

    if period == "year":
        return date(start.year, 1, 1), date(start.year, 12, 31)
    if period == "quarter":
        first = 3 * ((start.month - 1) // 3) + 1
        last = first + 2
        return date(start.year, first, 1), date(start.year, last, calendar.monthrange(start.year, last)[1])
    if period == "month":
        return date(start.year, start.month, 1), date(
            start.year, start.month, calendar.monthrange(start.year, start.month)[1]
        )
    if period == "week":
        return start, start + timedelta(days=6)
    if period == "day":
        return start, start
    raise ValueError(f"unknown period {period!r} (year, quarter, month, week or day)")


# --- JSON paths ----------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(
    r"\[\s*([^\]=\"']+?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\]]*?))\s*\]"  # [field=value]
    r"|\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]|([^.\[\]]+)"
)


def _same(node: Any, wanted: str) -> bool:
    """A list element's field equals the filter's text: as text, or as numbers (`2024` = `"2024"` = `2024.0`)."""
    if node is None or isinstance(node, (dict, list)):
        return False
    if str(node).strip() == wanted.strip():
        return True
    a, b = parse_number(node)[0], parse_number(wanted)[0]
    return a is not None and a == b


def json_path(document: Any, path: str) -> Any:
    """The value at a path; KeyError if absent. The grammar (steps joined by `.`):

    - `name`: the key of an object (`stats.visits`); `["any key"]` or `['any key']` for keys with dots or spaces;
    - `[2]`, `[-1]`: an element of a list;
    - `[field=value]`: the first element of a list whose `field` (itself a path) equals `value`, as text or as a
      number (`data[annee=2024].valeur`, `series[meta.year="2024"].total`).
    """
    node = document
    for m in _PATH_TOKEN.finditer(path):
        field_, fdq, fsq, fraw, index, dq, sq, name = m.groups()
        if field_ is not None:
            wanted = fdq if fdq is not None else fsq if fsq is not None else fraw
            if not isinstance(node, list):
                raise KeyError(f"[{field_}={wanted}] on a {type(node).__name__}")
            for item in node:
                try:
                    if _same(json_path(item, field_), wanted):
                        node = item
                        break
                except KeyError:
                    continue
            else:
                raise KeyError(f"no element with {field_} = {wanted}")
            continue
        if index is not None:
            if not isinstance(node, list):
                raise KeyError(f"[{index}] on a {type(node).__name__}")
            try:
                node = node[int(index)]
            except IndexError:
                raise KeyError(f"[{index}] out of range") from None
            continue
        key = dq if dq is not None else sq if sq is not None else name
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.lstrip("-").isdigit():
            try:
                node = node[int(key)]
            except IndexError:
                raise KeyError(f"{key} out of range") from None
        else:
            raise KeyError(key)
    return node


def normalise_name(text: str) -> str:
    """Lower case, no accents, words separated by one space: to match a dataset's service name to a startup."""
    return " ".join(re.findall(r"[a-z0-9]+", _ascii(text or "")))
