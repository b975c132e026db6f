"""The yearly chart: a real PNG of the expected size, deterministic, for any number of years."""

from __future__ import annotations

import pytest

from impact_pipeline.defs.reporting.chart import HEIGHT_PX, WIDTH_PX, chart_key, drawn_from, png_size, render_chart

SUMMARY = [
    {
        "year": 2023,
        "n_meeting_criteria": 3,
        "n_first_meeting": 3,
        "n_designated_in_year": 1,
        "n_designated_cumulative": 4,
    },
    {
        "year": 2024,
        "n_meeting_criteria": 5,
        "n_first_meeting": 2,
        "n_designated_in_year": 2,
        "n_designated_cumulative": 6,
    },
    {
        "year": 2025,
        "n_meeting_criteria": 4,
        "n_first_meeting": 0,
        "n_designated_in_year": 0,
        "n_designated_cumulative": 6,
    },
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


def test_a_chart_carries_the_key_of_what_it_was_drawn_from():
    png = render_chart(SUMMARY, highlight_year=2024, in_progress_year=2025)
    key = drawn_from(png)
    assert key == chart_key(SUMMARY, 2024, None, 2025)
    assert key == chart_key(list(reversed(SUMMARY)), 2024, None, 2025)  # the chart sorts its rows too
    changed = [dict(r, n_first_meeting=r["n_first_meeting"] + 1) for r in SUMMARY]
    assert (
        len(
            {
                key,
                chart_key(changed, 2024, None, 2025),
                chart_key(SUMMARY, 2023, None, 2025),
                chart_key(SUMMARY, 2024, None, 2026),
                chart_key(SUMMARY[:2], 2024, None, 2025),
            }
        )
        == 5
    )
    assert drawn_from(b"GIF89a" + b"\0" * 30) is None
    assert drawn_from(png.replace(b"impact_pipeline:input", b"impact_pipeline:other")) is None


def test_the_chart_asset_draws_only_a_changed_chart(tmp_path):
    from impact_pipeline.defs.reporting.assets import _chart, _yearly_chart

    path = tmp_path / "national_impact_2024.png"
    upto = SUMMARY[:2]
    png, drawn = _chart(path, upto, 2024, 2025)
    assert drawn == 1 and path.read_bytes() == png
    written = path.stat().st_mtime_ns
    again, drawn = _chart(path, upto, 2024, 2025)
    assert drawn == 0 and again == png and path.stat().st_mtime_ns == written
    # The report takes the chart file when it shows the same counts, and draws afresh when it does not.
    assert _yearly_chart(tmp_path, SUMMARY, 2024, 2025) == png
    changed = [dict(r, n_meeting_criteria=9) for r in SUMMARY]
    fresh = _yearly_chart(tmp_path, changed, 2024, 2025)
    assert fresh != png and drawn_from(fresh) == chart_key(changed[:2], 2024, None, 2025)
    redrawn, drawn = _chart(path, changed[:2], 2024, 2025)
    assert drawn == 1 and redrawn == fresh and path.read_bytes() == fresh


def test_a_coverage_note_is_drawn_and_changes_the_chart():
    """A run whose sources were off says so on the chart itself (the PNG travels without the report)."""
    plain = render_chart(SUMMARY, in_progress_year=2025)
    noted = render_chart(SUMMARY, in_progress_year=2025, note="Incomplete evidence in 2024: unknown (b) for 100 %")
    assert noted != plain and png_size(noted) == (WIDTH_PX, HEIGHT_PX)
    assert drawn_from(noted) == chart_key(
        SUMMARY, None, None, 2025, "Incomplete evidence in 2024: unknown (b) for 100 %"
    )
    assert drawn_from(noted) != drawn_from(plain)
