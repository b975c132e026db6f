"""The yearly report: one self-contained HTML page (inline CSS, chart as base64, no external resource).

Everything that comes from the registry or the evidence is escaped (Jinja2 autoescape, `markupsafe.escape`
for the evidence renderer); only http(s) URLs become links.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from impact_pipeline.defs.reporting.coverage import banners
from impact_pipeline.defs.reporting.data import STATUS_ORDER, YearData
from impact_pipeline.defs.reporting.labels import CHART_SERIES, CRITERIA_TITLES
from impact_pipeline.lib.urls import web_address

TEMPLATES = Path(__file__).resolve().parent / "templates"


def is_web_url(value: Any) -> bool:
    """True for what may become a link in the report: a web address by the one rule (`lib/urls.web_address`)."""
    return isinstance(value, str) and value == value.strip() and web_address(value) is not None


def link(value: Any, text: Any = None) -> Markup:
    """An escaped link for http(s) URLs; anything else (javascript:, file paths…) as escaped text."""
    if is_web_url(value):
        return Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(value, value if text is None else text)
    return escape("" if value is None else value)


def verdict_badge(verdict: Any) -> Markup:
    v = str(verdict)
    css = v if v in ("pass", "fail", "unknown") else "other"
    return Markup('<span class="v v-{}">{}</span>').format(css, v)


def render_value(value: Any, key: str | None = None, skip: dict | None = None) -> Markup:
    """Evidence of any shape, generically: mappings as key/value lists, lists inline, URLs as links.

    Empty values (None, `weak: false`) and the top-level entries in `skip` (shown once for the whole page) are
    left out: the yearly page of the real registry repeats them hundreds of times."""
    if isinstance(value, dict):
        shown = {
            k: v
            for k, v in value.items()
            if v is not None and not (k == "weak" and v is False) and not (skip and k in skip and skip[k] == v)
        }
        if not shown:
            return Markup('<span class="muted">none</span>')
        if "verdict" in shown and "reason" in shown:  # a sub-criterion: its verdict and reason on one line
            rest = {k: v for k, v in shown.items() if k not in ("verdict", "reason")}
            return Markup("{} {}{}").format(
                verdict_badge(shown["verdict"]),
                render_value(shown["reason"]),
                Markup(' <span class="muted">({})</span>').format(
                    Markup("; ").join(Markup("{}: {}").format(k, render_value(v, key=str(k))) for k, v in rest.items())
                )
                if rest
                else "",
            )
        items = Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(k, render_value(v, key=str(k))) for k, v in shown.items()
        )
        return Markup('<dl class="kv">{}</dl>').format(items)
    if isinstance(value, (list, tuple)):
        if not value:
            return Markup('<span class="muted">none</span>')
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return Markup(", ").join(render_value(v) for v in value)
        return Markup("<ul>{}</ul>").format(
            Markup("").join(Markup("<li>{}</li>").format(render_value(v)) for v in value)
        )
    if value is None:
        return Markup('<span class="muted">none</span>')
    if key == "verdict":
        return verdict_badge(value)
    if isinstance(value, bool):
        return escape("yes" if value else "no")
    if isinstance(value, int):
        if key and key.endswith("year"):
            return escape(str(value))  # a year, not a quantity: no thousands separator
        return escape(f"{value:,}")
    if isinstance(value, float):
        return escape(f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}")
    return link(value)


def common_evidence(services: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per criterion, the top-level evidence entries equal for every service of the page (the threshold, the
    registry's checksum…): shown once above the table instead of in every row."""
    common: dict[str, dict[str, Any]] = {}
    for c in ("a", "b", "c"):
        maps = [s["evidence"].get(c) for s in services]
        if len(maps) < 2 or not all(isinstance(m, dict) for m in maps):
            common[c] = {}
            continue
        first = maps[0]
        common[c] = {
            k: v
            for k, v in first.items()
            if v is not None and not isinstance(v, dict) and all(k in m and m[k] == v for m in maps[1:])
        }
    return common


def _fmt_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(value=render_value, verdict=verdict_badge, link=link, datetime=_fmt_datetime)
    return env


KEY_MARK = "<!-- impact_pipeline:input "


def report_key(data: YearData, chart_png: bytes | None, today: date | None = None) -> str:
    """A digest of everything `render_report` shows (the publication's time and run aside, which the page does not
    show) and of the code and template that render it: an unchanged page is not rendered again."""
    import dataclasses
    import hashlib
    import json

    from impact_pipeline.defs.reporting import data as data_module
    from impact_pipeline.defs.reporting import labels

    today = today or date.today()
    # The fields as they are: `dataclasses.asdict` deep-copies every row (about a second for one year of the real
    # registry) for the same JSON.
    shown = {f.name: getattr(data, f.name) for f in dataclasses.fields(data) if f.name != "publication"}
    digest = hashlib.sha256(json.dumps([shown, data.year >= today.year], sort_keys=True, default=str).encode())
    digest.update(hashlib.sha256(chart_png or b"").digest())
    from impact_pipeline.defs.reporting import coverage

    for path in (
        Path(__file__),
        Path(data_module.__file__),
        Path(labels.__file__),
        Path(coverage.__file__),
        *sorted(TEMPLATES.iterdir()),
    ):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def rendered_from(page_start: bytes) -> str | None:
    """The `report_key` a page written by `render_report` names in its first lines, or None."""
    text = page_start.decode("utf-8", "replace")
    at = text.find(KEY_MARK)
    if at < 0:
        return None
    end = text.find(" -->", at)
    return text[at + len(KEY_MARK) : end] if end > 0 else None


def render_report(data: YearData, chart_png: bytes | None, today: date | None = None) -> str:
    """The HTML page of one year: summary, chart, review lists, every evaluated service with evidence.

    Its second line names the `report_key` it was rendered from."""
    today = today or date.today()
    key = report_key(data, chart_png, today)
    chart_uri = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii") if chart_png else None
    s = data.summary
    figures = [
        ("Services evaluated", s["n_evaluated"], "services with a known phase by the end of the year"),
        ("Meeting the criteria", s["n_meeting_criteria"], "all three criteria pass this year (a stock)"),
        ("Meeting them for the first time", s["n_first_meeting"], "met in no earlier evaluated year"),
        ("Designated for the year", s["n_designated_in_year"], "official designations for this year (a flow)"),
        ("Designated, cumulative", s["n_designated_cumulative"], "designated for this year or earlier"),
        ("Designated, not meeting the criteria", s["n_designated_not_meeting"], "review list 1"),
        ("Meeting the criteria, not designated", s["n_meeting_not_designated"], "review list 2"),
    ]
    template = _environment().get_template("report.html.j2")
    page = template.render(
        data=data,
        year=data.year,
        in_progress=data.year >= today.year,
        figures=figures,
        criteria_titles=CRITERIA_TITLES,
        verdict_counts=data.verdict_counts,
        chart_uri=chart_uri,
        chart_series=CHART_SERIES,
        status_order=STATUS_ORDER,
        status_counts={st: sum(1 for x in data.services if x["status"] == st) for st in STATUS_ORDER},
        by_id={x["startup_id"]: x for x in data.services},
        common=common_evidence(data.services),
        banners=banners(data.coverage),
        # The day the page is rendered, i.e. the publication that brought these figures (an unchanged page is
        # not rendered again, so it keeps the day its figures were first published).
        published_on=today.isoformat(),
    )
    doctype, newline, rest = page.partition("\n")
    return f"{doctype}{newline}{KEY_MARK}{key} -->\n{rest}"
