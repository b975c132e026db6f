"""The yearly HTML report on a hand-written published file: content, review lists, escaping, self-containment."""

from __future__ import annotations

import html
import re
from datetime import date
from html.parser import HTMLParser

import pytest

from impact_pipeline.defs.reporting.chart import render_chart
from impact_pipeline.defs.reporting.data import connect_published, read_year
from impact_pipeline.defs.reporting.report import is_web_url, render_report
from impact_pipeline_tests.defs.reporting import world


class _Collector(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.script_bodies if self._in_script else self.text).append(data)


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _ids_listed(section: str) -> list[str]:
    return re.findall(r'href="#svc-([^"]+)"', section)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return world.make_published(tmp_path_factory.mktemp("world") / "impact.duckdb")


@pytest.fixture(scope="module")
def pages(published):
    con = connect_published(published)
    try:
        out = {}
        for year in world.YEARS:
            data = read_year(con, year)
            out[year] = (
                data,
                render_report(data, render_chart(data.all_summary, highlight_year=year), today=date(2026, 1, 1)),
            )
        return out
    finally:
        con.close()


@pytest.mark.parametrize("year", world.YEARS)
def test_report_lists_every_evaluated_service_with_its_three_criteria(pages, year):
    data, page = pages[year]
    evaluated = {sid for (y, sid) in world.verdicts() if y == year}
    assert {s["startup_id"] for s in data.services} == evaluated
    table = page[page.index('<table id="services-table">') :]
    for sid in evaluated:
        assert f'id="svc-{sid}"' in table
        body = table[table.index(f'id="svc-{sid}"') :]
        body = body[: body.index("</tbody>")]
        for c in ("a", "b", "c"):
            verdict, reason, _ = world.verdicts()[(year, sid)][c]
            assert f"({c}) " in body and f"v-{verdict}" in body
            assert reason in html.unescape(body)
    assert "svc-never" not in page  # in the registry, never evaluated


@pytest.mark.parametrize("year", world.YEARS)
def test_review_lists_match_the_world(pages, year):
    _, page = pages[year]
    assert _ids_listed(_section(page, "review-designated-not-meeting")) == world.EXPECTED_DESIGNATED_NOT_MEETING[year]
    assert _ids_listed(_section(page, "review-meeting-not-designated")) == world.EXPECTED_MEETING_NOT_DESIGNATED[year]


def test_summary_figures_and_designations_are_shown(pages):
    data, page = pages[2024]
    summary = _section(page, "summary")
    assert data.summary["n_meeting_criteria"] == 2 and data.summary["n_designated_not_meeting"] == 1
    assert re.search(r"Meeting the criteria</td><td class=\"num\">2<", summary)
    assert "Designated for 2024:</strong>" in summary and "Service OK" in summary
    # (b) evidence: value, threshold, source and the evidence URL as a link
    assert "250,000" in page and "100,000" in page and "matomo" in page
    assert '<a href="https://stats.example.org/svc-ok" rel="noopener noreferrer">' in page
    # (c) sub-criteria rendered generically with their verdicts
    assert "sub_criteria" in page and "team answers users: pass" in page
    assert "year in progress" not in page
    assert "year in progress" in render_report(data, None, today=date(2024, 6, 1))


def test_registry_text_is_escaped_and_only_web_urls_become_links(pages):
    _, page = pages[2024]
    parser = _Collector()
    parser.feed(page)
    # the only script is the page's own sorting code, and no tag came from the data
    assert len(parser.script_bodies) == 1 and "alert" not in parser.script_bodies[0]
    assert not any(tag in ("img", "i", "b") and "onerror" in attrs for tag, attrs in parser.tags)
    assert [t for t, _ in parser.tags].count("img") == 1  # the chart
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Évil &amp; Co" in page
    assert any(world.XSS_NAME in chunk for chunk in parser.text)  # shown verbatim to the reader
    hrefs = [attrs["href"] for tag, attrs in parser.tags if tag == "a" and "href" in attrs]
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    assert all(h.startswith(("#", "https://", "http://")) for h in hrefs)
    assert "javascript:alert(document.cookie)" in "".join(parser.text)  # shown, as text


def test_report_is_self_contained(pages):
    _, page = pages[2025]
    parser = _Collector()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag != "link", "no external stylesheet"
        if tag in ("img", "script", "iframe", "source", "video", "audio"):
            src = attrs.get("src")
            assert src is None or src.startswith("data:"), f"<{tag}> loads {src}"
    assert 'src="data:image/png;base64,' in page
    assert "@import" not in page and "url(" not in page


def test_web_url_rule():
    assert is_web_url("https://a.example.org/x?y=1")
    assert is_web_url("HTTP://a.example.org")
    for bad in ("javascript:alert(1)", "/etc/passwd", "ftp://x.org", "https://", "https://a .org", None, 3, ""):
        assert not is_web_url(bad)


def test_same_data_gives_the_same_page_whatever_the_publication(published, pages, tmp_path):
    import duckdb

    other = world.make_published(tmp_path / "again.duckdb")
    con = duckdb.connect(str(other))
    con.execute("INSERT INTO publish_log VALUES (now()::TIMESTAMP, 'another-run', '2024,2025', 'x')")
    con.close()
    con = connect_published(other)
    try:
        data = read_year(con, 2024)
    finally:
        con.close()
    page = render_report(data, render_chart(data.all_summary, highlight_year=2024), today=date(2026, 1, 1))
    assert page == pages[2024][1]


def test_a_page_names_what_it_was_rendered_from(pages):
    import dataclasses

    from impact_pipeline.defs.reporting.report import rendered_from, report_key

    data, page = pages[2024]
    chart = render_chart(data.all_summary, highlight_year=2024)
    key = rendered_from(page.encode("utf-8")[:200])
    assert page.startswith("<!DOCTYPE html>\n<!-- impact_pipeline:input ")
    assert key == report_key(data, chart, today=date(2026, 1, 1))
    # The publication's time and run are not shown: they do not change the key; anything shown does.
    assert report_key(dataclasses.replace(data, publication={"run_id": "other"}), chart, date(2026, 1, 1)) == key
    renamed = [dict(s, name=s["name"] + " (renamed)") if i == 0 else s for i, s in enumerate(data.services)]
    assert (
        len(
            {
                key,
                report_key(dataclasses.replace(data, services=renamed), chart, date(2026, 1, 1)),
                report_key(data, chart + b"\0", date(2026, 1, 1)),
                report_key(data, chart, date(2024, 6, 1)),
            }
        )
        == 4
    )
    assert rendered_from(b"<!DOCTYPE html>\n<html>") is None


def test_the_report_asset_renders_only_a_changed_page(published, tmp_path):
    import dagster as dg

    from impact_pipeline.defs.reporting.assets import national_impact_report
    from impact_pipeline.lib.warehouse import Warehouse

    warehouse = Warehouse(
        duckdb_path=str(published), export_dir=str(tmp_path / "exports"), work_dir=str(tmp_path / "work")
    )

    def run():
        result = dg.materialize([national_impact_report], resources={"warehouse": warehouse})
        assert result.success
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "exports").glob("report_*.html")}

    first = run()
    assert set(first) == {f"report_{y}.html" for y in world.YEARS}
    again = run()
    assert again == first  # same bytes, and not even rewritten
    page = tmp_path / "exports" / f"report_{world.YEARS[0]}.html"
    page.write_bytes(page.read_bytes().replace(b"impact_pipeline:input ", b"impact_pipeline:input stale"))
    redone = run()
    assert redone[page.name][0] == first[page.name][0] and redone[page.name][1] != first[page.name][1]
    assert all(redone[name] == first[name] for name in first if name != page.name)
