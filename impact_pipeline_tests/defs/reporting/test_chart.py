"""The yearly chart: a real PNG of the expected size, deterministic, for any number of years."""

from __future__ import annotations

import pytest

from impact_pipeline.defs.reporting.chart import HEIGHT_PX, WIDTH_PX, png_size, render_chart

SUMMARY = [
    {"year": 2023, "n_meeting_criteria": 3, "n_first_meeting": 3, "n_designated_in_year": 1, "n_designated_cumulative": 4},
    {"year": 2024, "n_meeting_criteria": 5, "n_first_meeting": 2, "n_designated_in_year": 2, "n_designated_cumulative": 6},
    {"year": 2025, "n_meeting_criteria": 4, "n_first_meeting": 0, "n_designated_in_year": 0, "n_designated_cumulative": 6},
]


def test_chart_is_a_png_of_the_documented_size():
    png = render_chart(SUMMARY, highlight_year=2024, in_progress_year=2025)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) == (1000, 500)
    assert len(png) > 10_000  # bars, a line, labels and a legend were drawn, not a blank canvas


def test_chart_depends_on_the_data_and_is_deterministic():
    first = render_chart(SUMMARY, highlight_year=2024)
    assert first == render_chart(SUMMARY, highlight_year=2024)
    changed = [dict(r, n_meeting_criteria=r["n_meeting_criteria"] + 7) for r in SUMMARY]
    assert render_chart(changed, highlight_year=2024) != first
    assert render_chart(SUMMARY, highlight_year=2023) != first


@pytest.mark.parametrize("rows", [[], SUMMARY[:1]])
def test_chart_handles_no_year_and_a_single_year(rows):
    png = render_chart(rows)
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)


def test_png_size_refuses_other_bytes():
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + b"\0" * 30)
