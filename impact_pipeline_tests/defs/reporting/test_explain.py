"""`impact-pipeline explain`: the verdict per criterion with evidence, and a useful answer for an unknown id."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from impact_pipeline.cli import main
from impact_pipeline.explain import close_matches, run
from impact_pipeline_tests.defs.reporting import world


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return world.make_published(tmp_path_factory.mktemp("world") / "impact.duckdb")


def _explain(published, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(published, *args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_one_year_in_detail(published):
    code, text, err = _explain(published, "svc-late", 2024)
    assert (code, err) == (0, "")
    assert text.startswith("Service Désigné Tôt (svc-late)\n")
    assert "Official designation: for 2023." in text
    assert "Meets the criteria: NO" in text
    assert "Review: designated, but does not meet the criteria this year." in text
    assert "(a) national deployment: PASS" in text
    assert "(b) significant impact: FAIL" in text
    assert "(b) fail: 5,000 visits a year against a threshold of 100,000." in text
    # evidence: value, threshold, source and URL as recorded
    for line in (
        "value: 5,000",
        "threshold: 100,000",
        "source: matomo",
        "evidence_url: https://stats.example.org/svc-late",
    ):
        assert f"        {line}\n" in text
    # (c) sub-criteria, nested
    assert "(c) quality standards: PASS" in text and "sub_criteria:\n" in text and "verdict: pass" in text
    assert f"criteria version {world.VERSION}" in text
    assert "History" not in text


def test_without_year_history_then_latest_year(published):
    code, text, _ = _explain(published, "svc-late")
    assert code == 0
    history = text[text.index("History") : text.index("2025 in detail")]
    assert "2024  acceleration            pass     fail     pass     no     designated" in history
    assert "2025  acceleration            pass     pass     pass     yes    designated" in history
    assert "Meets the criteria: YES" in text.split("2025 in detail")[1]


def test_unknown_id_suggests_close_matches(published):
    code, text, err = _explain(published, "svc-lat")
    assert code == 2 and text == ""
    assert err.startswith("unknown startup 'svc-lat'; did you mean: svc-late (Service Désigné Tôt)")
    # by name, case-insensitively
    assert close_matches("service ok", [(s, v[0]) for s, v in world.STARTUPS.items()])[0] == ("svc-ok", "Service OK")
    code, _, err = _explain(published, "zzzz-qqqq")
    assert code == 2 and "no close match" in err


def test_year_not_evaluated_and_service_never_evaluated(published):
    code, _, err = _explain(published, "svc-ok", 2019)
    assert code == 2 and "svc-ok was not evaluated in 2019; evaluated years: 2024–2025" in err
    code, text, _ = _explain(published, "svc-never")
    assert code == 0 and "Never evaluated: the registry lists no phase for it" in text
    assert "registry_findings" not in text  # the table holds nothing about it: no pointer to an empty table


def test_never_evaluated_names_a_first_phase_after_the_years(published):
    code, text, _ = _explain(published, "svc-future")
    assert code == 0
    assert "Never evaluated: its first phase starts on 2027-03-01, after the evaluated years (2024–2025)" in text


def test_terminal_escapes_from_the_registry_are_shown_escaped(published):
    code, text, _ = _explain(published, world.ESCAPE_ID)
    assert code == 0 and "\x1b" not in text and "\x07" not in text
    assert text.startswith("Evil\\x1b]0;pwned\\x07\\x1b[2J Term (svc-term)\n")
    # in the did-you-mean suggestions too
    code, _, err = _explain(published, "svc-ter")
    assert code == 2 and "\x1b" not in err and "Evil\\x1b]0;pwned" in err


def test_cli_reads_the_configured_file_and_exits_2_for_an_unknown_id(published, tmp_path):
    env = {**os.environ, "IMPACT_DUCKDB_PATH": str(published)}
    env.pop("IMPACT_SAMPLE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "impact_pipeline.cli", "explain", "svc-oops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "unknown startup 'svc-oops'; did you mean:" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "impact_pipeline.cli", "explain", "svc-ok", "--year", "2025"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Service OK (svc-ok)" in proc.stdout and "(b) significant impact: PASS" in proc.stdout


def test_missing_published_file(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPACT_DUCKDB_PATH", str(tmp_path / "absent.duckdb"))
    monkeypatch.delenv("IMPACT_SAMPLE", raising=False)
    assert main(["explain", "svc-ok"]) == 1
