"""Discovery: recognise usage sources from a service's stats URL or on its stats page (Metabase public questions and
dashboards, Matomo sites in links or tracker snippets, impact dataset files), and judge whether a trial read of one
is unambiguous enough to be used before a person reviews it.

Pure functions, no I/O: `resources.UsageSources.discover` fetches; this module recognises and judges.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from impact_pipeline.defs.usage.observations import normalise_name as _words
from impact_pipeline.defs.usage.observations import parse_number, parse_when

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_METABASE = re.compile(
    r"""(?P<url>(?:https?:)?//[^\s"'<>]+?|)/public/(?P<kind>question|dashboard)/(?P<uuid>""" + _UUID + ")"
)
_MATOMO_LINK = re.compile(r"""(?P<url>(?:https?:)?//[^\s"'<>]+?/(?:index|matomo|piwik)\.php\?[^\s"'<>]*)""", re.I)
_TRACKER_BASE = re.compile(r"""var\s+u\s*=\s*["'](?P<base>(?:https?:)?//[^"']+)["']""")
_TRACKER_SITE = re.compile(r"""setSiteId['"]\s*,\s*['"]?(?P<id>\d+)""")
# Impact dataset files: a data.gouv.fr stable resource link, or a CSV named like the standard's files.
_IMPACT_LINK = re.compile(
    r"""href\s*=\s*["'](?P<url>[^"']*(?:/datasets/r/(?P<rid>"""
    + _UUID
    + r""")|statistiques?_impact[^"'/]*\.csv))["']""",
    re.I,
)

# What a Metabase column counts, from its name (accents and case ignored): the unit of usage_observations.
_COUNTS = (
    (re.compile(r"\b(visiteurs?|visitors?)\b"), "visitors"),
    (re.compile(r"\b(utilisat(eur|rice)s?|usagers?|users?|beneficiaires?|personnes?|comptes? actifs?)\b"), "users"),
    (re.compile(r"\b(visites?|visits?|sessions?)\b"), "visits"),
    (re.compile(r"\b(demarches?|dossiers?|demandes?|procedures?|declarations?|simulations?|consultations?)\b"), "uses"),
)
_DATE_NAME = re.compile(r"\b(date|jour|day|semaine|week|mois|month|annee|year|trimestre|quarter|periode|period)\b")


@dataclass(frozen=True)
class Proposal:
    kind: str  # metabase_question, metabase_dashboard, metabase_dashboard_card, matomo, impact_csv
    instance: str  # base URL of the instance (the file URL for impact_csv)
    identifier: str  # uuid, `<dashboard uuid>/<dashcard id>/<card id>`, site id, or the file's resource id / name
    name: str = ""  # the card's title, when the source names it

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.instance, self.identifier


def proposal_id(startup_id: str, kind: str, instance: str, identifier: str) -> str:
    """A short id that stays the same from run to run (the CLI's handle on a proposal)."""
    digest = hashlib.sha1("|".join((startup_id, kind, instance.rstrip("/"), identifier)).encode()).hexdigest()
    return "p" + digest[:7]


def _absolute(url: str, page_url: str) -> str:
    return urljoin(page_url, url)


def _matomo_base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}".rstrip("/")


def _site_id(url: str) -> str:
    query = {k.lower(): v for k, v in parse_qs(urlsplit(url).query).items()}
    return (query.get("idsite") or [""])[0]


def from_stats_url(url: str) -> list[Proposal]:
    """Sources the stats URL itself is (read before the page): the Matomo UI of a site
    (`…/index.php?module=CoreHome…&idSite=N`) or a Metabase public dashboard or question."""
    url = (url or "").strip()
    m = _METABASE.search(url)
    if m and m["url"]:
        base = _absolute(m["url"], url).rstrip("/")
        return [Proposal(f"metabase_{m['kind']}", base, m["uuid"].lower())]
    parts = urlsplit(url)
    query = {k.lower(): [v.lower() for v in vs] for k, vs in parse_qs(parts.query).items()}
    site = _site_id(url)
    if parts.scheme in ("http", "https") and site.isdigit() and "corehome" in query.get("module", []):
        return [Proposal("matomo", _matomo_base(url), site)]
    return []


def find_sources(page: str, page_url: str) -> list[Proposal]:
    """Every Metabase public card/dashboard, Matomo site and impact dataset file the page references, deduplicated,
    in order."""
    text = html.unescape(page)
    found: dict[Proposal, None] = {}
    for m in _METABASE.finditer(text):
        base = _absolute(m["url"] or "/", page_url).rstrip("/")
        found[Proposal(f"metabase_{m['kind']}", base, m["uuid"].lower())] = None
    for m in _MATOMO_LINK.finditer(text):
        url = _absolute(m["url"], page_url)
        site = _site_id(url)
        if site.isdigit():
            found[Proposal("matomo", _matomo_base(url), site)] = None
    base_match, site_match = _TRACKER_BASE.search(text), _TRACKER_SITE.search(text)
    if base_match and site_match:
        base = _absolute(base_match["base"], page_url).rstrip("/")
        found[Proposal("matomo", base, site_match["id"])] = None
    for m in _IMPACT_LINK.finditer(text):
        url = _absolute(m["url"], page_url)
        found[Proposal("impact_csv", url, (m["rid"] or url.rsplit("/", 1)[-1]).lower())] = None
    return list(found)


# --- Metabase: the dashboard's cards, and what a card's columns are -------------------------------------------


def dashboard_cards(document: Any, instance: str, uuid: str) -> list[Proposal]:
    """The cards of a public dashboard (`GET /api/public/dashboard/<uuid>`: `dashcards`, `ordered_cards` in older
    versions), each a proposal read at `/api/public/dashboard/<uuid>/dashcard/<id>/card/<card id>`."""
    if not isinstance(document, dict):
        raise ValueError(f"a Metabase dashboard is an object, got a {type(document).__name__}")
    cards = document.get("dashcards")
    if cards is None:
        cards = document.get("ordered_cards")
    if not isinstance(cards, list):
        raise ValueError("the Metabase dashboard lists no cards (no `dashcards`)")
    out = []
    for dashcard in cards:
        if not isinstance(dashcard, dict):
            continue
        card = dashcard.get("card") if isinstance(dashcard.get("card"), dict) else {}
        card_id = dashcard.get("card_id") or card.get("id")
        if dashcard.get("id") is None or card_id is None:
            continue  # a text or heading card: no question behind it
        out.append(
            Proposal(
                "metabase_dashboard_card", instance, f"{uuid}/{dashcard['id']}/{card_id}", str(card.get("name") or "")
            )
        )
    return out


def dashcard_data_url(instance: str, identifier: str) -> str:
    uuid, dashcard, card = identifier.split("/")
    return f"{instance}/api/public/dashboard/{uuid}/dashcard/{dashcard}/card/{card}"


def card_rows(document: Any) -> Any:
    """Rows keyed by column display name: a card's `/query/json` answer as is, or a dashcard's
    `{"data": {"cols": [...], "rows": [[...]]}}` turned into that shape (anything else is returned unchanged)."""
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict) and isinstance(data.get("cols"), list) and isinstance(data.get("rows"), list):
        names = [str(c.get("display_name") or c.get("name")) if isinstance(c, dict) else str(c) for c in data["cols"]]
        return [dict(zip(names, row, strict=False)) for row in data["rows"] if isinstance(row, list)]
    return document


def counted_unit(column: str) -> str | None:
    """The unit a column's name says it counts (`Nombre d'utilisateurs` → users), None when it does not say."""
    words = _words(column)
    if re.search(r"\b(taux|pourcentage|percent|part|moyenne|average|ratio|note|score|satisfaction|duree)\b", words):
        return None  # a rate or a mean, not a count of people or uses
    return next((unit for pattern, unit in _COUNTS if pattern.search(words)), None)


def _is_date_column(name: str, values: list[Any]) -> bool:
    if not values or any(parse_when(v) is None for v in values):
        return False
    # A bare number reads as a year too (`2 021` is one): it is a date only in a column named like one.
    textual = all(isinstance(v, str) and not re.fullmatch(r"[\d\s.,]+", v.strip()) for v in values)
    return textual or bool(_DATE_NAME.search(_words(name)))


def _period(name: str, days: list[date]) -> str:
    words = _words(name)
    if re.search(r"\b(annee|year)\b", words):
        return "year"
    if re.search(r"\b(mois|month)\b", words):
        return "month"
    if re.search(r"\b(semaine|week)\b", words):
        return "week"
    if all(d.month == 1 and d.day == 1 for d in days) and len({d.year for d in days}) == len(days) and len(days) > 1:
        return "year"
    if all(d.day == 1 for d in days):
        return "month"
    return "day"


@dataclass(frozen=True)
class CardPlan:
    """How a card would be read: its date and value columns, unit and period; `ambiguity` says why it cannot be read
    without a person choosing (None when it is unambiguous)."""

    date_column: str | None
    value_column: str | None
    unit: str | None
    period: str | None
    ambiguity: str | None
    columns: tuple[str, ...] = ()


def plan_card(
    rows: Any,
    *,
    date_column: str | None = None,
    value_column: str | None = None,
    unit: str | None = None,
    period: str | None = None,
) -> CardPlan:
    """Recognise a card's date-like and numeric columns. Unambiguous: exactly one date-like column and exactly one
    numeric column whose name says what it counts. Columns given by a person are taken as given."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return CardPlan(date_column, value_column, unit, period, "the card answered no rows")
    columns = tuple(dict.fromkeys(k for r in rows for k in r))
    values = {c: [r.get(c) for r in rows if r.get(c) not in (None, "")] for c in columns}
    dates = [c for c in columns if _is_date_column(c, values[c])]
    numbers = [
        c for c in columns if c not in dates and values[c] and all(parse_number(v)[0] is not None for v in values[c])
    ]
    problems = []
    if date_column is None:
        if len(dates) == 1:
            date_column = dates[0]
        else:
            problems.append(f"{len(dates)} date-like columns" + (f" ({', '.join(dates)})" if dates else ""))
    if value_column is None:
        if len(numbers) == 1:
            value_column = numbers[0]
        else:
            problems.append(f"{len(numbers)} numeric columns" + (f" ({', '.join(numbers)})" if numbers else ""))
    if value_column and unit is None:
        unit = counted_unit(value_column)
        if unit is None:
            problems.append(f"the name of column {value_column!r} does not say what it counts")
    if date_column and period is None and date_column in values:
        days = [d for d in (parse_when(v) for v in values[date_column]) if d is not None]
        period = _period(date_column, days) if days else None
    return CardPlan(date_column, value_column, unit, period, "; ".join(problems) or None, columns)


# --- the preview ---------------------------------------------------------------------------------------------


def preview(observations: list[dict[str, Any]]) -> str | None:
    """What the observations would yield per year (value, unit, period), as one line; None when nothing.
    The figures are the ones `yearly_reach` would keep, bounds included."""
    from impact_pipeline.defs.usage.reach import _fmt, yearly_reach

    parts = []
    for r in yearly_reach(observations):
        start, end, year = r["period_start"], r["period_end"], r["year"]
        partial = bool(r.get("lower_bound"))
        whole = (str(start), str(end)) == (f"{year}-01-01", f"{year}-12-31")
        prefix = "at most " if r["upper_bound"] else "at least " if partial else ""
        parts.append(
            f"{year}: {prefix}{_fmt(r['value'])} {r['unit']}"
            + ("" if whole and not partial else f" ({start}→{end}{', part of the year' if partial else ''})")
        )
    return "; ".join(parts) or None
