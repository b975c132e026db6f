"""The yearly page in headless Chromium at a laptop's width (1,366 px): it fits, prints, filters, and reads
without JavaScript. Skips when no Chromium binary exists (`.ci/run` installs Debian's `chromium`)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from impact_pipeline.defs.reporting.chart import render_chart
from impact_pipeline.defs.reporting.data import connect_published, read_year
from impact_pipeline.defs.reporting.report import render_report
from impact_pipeline_tests.defs.reporting import world
from impact_pipeline_tests.ui.test_browser import CHROMIUM_ARGS, _chromium

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    con = connect_published(world.make_published(folder / "impact.duckdb"))
    try:
        data = read_year(con, 2024)
    finally:
        con.close()
    # What widened the real page: long unbroken links and reasons from the registry and the evidence.
    long_url = "https://" + "tres-long-sous-domaine-" * 12 + "example.org/" + "chemin" * 30
    services = [
        dict(s, link=long_url, reasons=s["reasons"] + " " + "x" * 400) if i == 0 else s
        for i, s in enumerate(data.services)
    ]
    page = render_report(
        dataclasses.replace(data, services=services),
        render_chart(data.all_summary, highlight_year=2024),
        today=date(2026, 1, 1),
    )
    path = folder / "report_2024.html"
    path.write_text(page, encoding="utf-8")
    return path


def _browser(playwright, chromium, **options):
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    return browser, browser.new_page(viewport=LAPTOP, **options)


def test_the_page_fits_a_laptop_screen_and_prints(page_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = _browser(playwright, chromium)
        try:
            page.goto(page_path.as_uri())
            widths = page.evaluate("""[document.documentElement.scrollWidth,
                Math.max(...[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right))]""")
            assert max(widths) <= LAPTOP["width"], widths
            page.emulate_media(media="print")
            assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
            assert page.locator("#filters").is_hidden()  # the print stylesheet hides the form
        finally:
            browser.close()


def test_filters_with_javascript_and_a_complete_page_without(page_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    n = sum(1 for (y, _) in world.verdicts() if y == 2024)
    with sync_playwright() as playwright:
        browser, page = _browser(playwright, chromium)
        try:
            page.goto(page_path.as_uri())
            visible = "document.querySelectorAll('#services-table tbody.svc:not([hidden])').length"
            assert page.evaluate(visible) == n
            page.select_option("select[name=b]", "fail")
            assert page.evaluate(visible) == 1 and page.locator("#svc-svc-late").is_visible()
            page.select_option("select[name=b]", "")
            page.fill("input[name=q]", "non désigné")
            assert page.evaluate(visible) == 1 and page.locator("#svc-svc-undesignated").is_visible()
            assert page.locator("#shown").inner_text() == f"1 of {n} shown"
        finally:
            browser.close()
        browser, page = _browser(playwright, chromium, java_script_enabled=False)
        try:
            page.goto(page_path.as_uri())
            assert page.locator("#filters").is_hidden()  # no form that cannot work
            assert page.evaluate("document.querySelectorAll('#services-table tbody.svc:not([hidden])').length") == n
        finally:
            browser.close()
