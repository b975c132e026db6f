"""Reading scores, percentages and placeholders, on hand-written cases and on the real observatoire measures."""

from __future__ import annotations

import csv
import json

import pytest

from impact_pipeline.defs.quality.values import (
    indicator_number,
    is_placeholder,
    normalize_host,
    parse_milliseconds,
    parse_percent,
    parse_score_10,
)
from impact_pipeline.lib.urls import web_address
from impact_pipeline_tests.support.pipeline import SHARED_DATA

OBSERVATOIRE_DATA = SHARED_DATA / "observatoire"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("8,5/10", 8.5),
        ("8.5 / 10", 8.5),
        (7.74, 7.74),
        ("6.7", 6.7),
        ("17/20", 8.5),
        ("11", None),
        ("À venir", None),
        (None, None),
    ],
)
def test_scores_out_of_ten(value, expected):
    assert parse_score_10(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("85 %", 85.0),
        ("85%", 85.0),
        (0.85, 85.0),
        ("0,716", 71.6),
        ("Conformité à 90%", 90.0),
        (99.95, 99.95),
        ("120 %", None),
    ],
)
def test_percentages_and_fractions(value, expected):
    assert parse_percent(value) == pytest.approx(expected) if expected is not None else parse_percent(value) is None


def test_uptime_is_a_percentage_even_below_one():
    assert indicator_number("uptime", 0.5) == 0.5
    assert indicator_number("help_reachable", 0.5) == 50.0


@pytest.mark.parametrize(
    "value",
    [
        "À venir",
        "a venir",
        "Non applicable",
        "Nombre d'avis insuffisant",
        "Nombre d’avis insuffisants",
        "Bientôt Disponible",
        "",
        "  ",
        None,
    ],
)
def test_text_placeholders_are_not_numbers(value):
    assert is_placeholder(value)
    assert parse_score_10(value) is None and parse_percent(value) is None


def test_real_values_are_not_placeholders():
    assert not is_placeholder("8.7") and not is_placeholder("FranceConnect") and not is_placeholder("Non")


def test_durations():
    assert (
        parse_milliseconds("394 ms") == 394
        and parse_milliseconds("0,4 s") == pytest.approx(400)
        and parse_milliseconds(215) == 215
    )


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://www.Example.gouv.fr/path?q=1", "example.gouv.fr"),
        ("http://example.fr:8080/", "example.fr"),
        ("example.fr/x", "example.fr"),
        ("https://sub.example.fr.", "sub.example.fr"),
        ("", None),
        (None, None),
    ],
)
def test_normalized_hosts(url, host):
    assert normalize_host(url) == host


@pytest.mark.parametrize(
    "value, expected",
    [
        (" https://x.fr/stats ", "https://x.fr/stats"),
        ("http://x.fr", "http://x.fr"),
        ("x.fr/stats", None),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("/etc/passwd", None),
        ("", None),
        (None, None),
        ("https://", None),
    ],
)
def test_only_public_http_urls_are_kept(value, expected):
    assert web_address(value) == expected


def _skip_without_observatoire():
    if not (OBSERVATOIRE_DATA / "dashlord_observatoire_results_flat.csv").exists():
        pytest.skip(f"real observatoire measures not found at {OBSERVATOIRE_DATA} (../shared/data is absent)")


def test_real_jdma_and_updown_files_parse_into_their_ranges():
    _skip_without_observatoire()
    folders = sorted((OBSERVATOIRE_DATA / "dashlord-observatoire" / "results").iterdir())
    assert folders
    seen = {"satisfaction": 0, "reachability": 0, "uptime": 0}
    for folder in folders:
        for name in ("jdma.json", "jdma_3months.json"):
            text = (folder / name).read_text()
            if not text.strip():  # some upstream files are empty: no measure, nothing to read
                continue
            data = json.loads(text)
            values, counts = data.get("data", {}), data.get("metadata", {})
            if counts.get("satisfaction_count"):
                score = parse_score_10(values["satisfaction"])
                assert score is not None and 0 <= score <= 10 and score == pytest.approx(values["satisfaction"])
                seen["satisfaction"] += 1
            if counts.get("contactReachability_count"):
                percent = parse_percent(values["contact_reachability"])  # a 0–1 fraction upstream
                assert percent == pytest.approx(values["contact_reachability"] * 100)
                seen["reachability"] += 1
        updown = json.loads((folder / "updown.json").read_text() or "{}")
        if "uptime" in updown:
            uptime = indicator_number("uptime", updown["uptime"])
            assert uptime == pytest.approx(updown["uptime"]) and 90 <= uptime <= 100
            seen["uptime"] += 1
    assert all(seen.values()), seen


def test_real_flat_measures_parse_with_the_observatoire_readers():
    _skip_without_observatoire()
    with open(OBSERVATOIRE_DATA / "dashlord_observatoire_results_flat.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 200
    satisfaction = [parse_score_10(r["jdma12m_satisfaction"]) for r in rows if r["jdma12m_satisfaction"]]
    reachability = [parse_percent(r["jdma12m_contact_reachability"]) for r in rows if r["jdma12m_contact_reachability"]]
    uptime = [indicator_number("uptime", r["updown_uptime"]) for r in rows if r["updown_uptime"]]
    assert satisfaction and all(v is not None and 0 <= v <= 10 for v in satisfaction)
    assert reachability and all(v is not None and 0 <= v <= 100 for v in reachability)
    assert uptime and all(v is not None and 0 <= v <= 100 for v in uptime)
    # the fractions really became percentages: real reachability sits well above 1 %
    assert sum(reachability) / len(reachability) > 10
    # the same figure written the observatoire's way reads the same
    raw = next(r["jdma12m_satisfaction"] for r in rows if r["jdma12m_satisfaction"])
    assert parse_score_10(raw.replace(".", ",") + "/10") == pytest.approx(float(raw))
