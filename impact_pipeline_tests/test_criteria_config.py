"""The criteria config file: its version, its defaults, and errors that name the file, the key path and what was
expected."""

from __future__ import annotations

import hashlib

import pytest

from impact_pipeline.criteria_config import CriteriaConfigError, load_criteria
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH


def _variant(tmp_path, old: str, new: str):
    text = DEFAULT_CRITERIA_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "criteria.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_version_is_the_declared_one_and_the_hash_of_the_file():
    config = load_criteria(DEFAULT_CRITERIA_PATH)
    digest = hashlib.sha256(DEFAULT_CRITERIA_PATH.read_bytes()).hexdigest()[:8]
    assert config.criteria_version == f"{config.version}+{digest}"
    assert config.criteria_version.startswith("2026.")


def test_keys_the_file_leaves_out_take_their_defaults(tmp_path):
    path = tmp_path / "criteria.yaml"
    path.write_text(
        "version: '1'\nyears: {first: 2016}\n"
        "criteria:\n  a: {qualifying_phases: [acceleration]}\n"
        "  b: {min_yearly_reach: 10, no_source_reason: none}\n  c: {no_source_reason: none}\n"
        "designation: {event_name: national_impact, deferred_from_year: 2022, deferred_until_month: 6}\n",
        encoding="utf-8",
    )
    config = load_criteria(path)
    assert config.criteria.b.discovered_sources.may_pass and not config.criteria.b.discovered_sources.may_fail
    assert config.criteria.c.current_checks.valid_into_next_year_months == 6
    assert config.criteria.c.sub_criteria.team_answering.min_help_reachable == 85.0
    assert "observatoire_goals" not in config.criteria.c.required
    assert config.criteria.b.evidence_ranking[0] == "measured_users"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "min_yearly_reach: 100000",
            "min_yearly_reach: lots",
            "criteria.b.min_yearly_reach: Input should be a valid number, unable to parse string as a number, "
            "got 'lots'",
        ),
        (
            "min_commits: 1",
            "min_comits: 1",
            "criteria.c.sub_criteria.product_evolving.min_comits: unknown key",
        ),
        ("  event_name: national_impact\n", "", "designation.event_name: missing (required)"),
        (
            "deferred_until_month: 6",
            "deferred_until_month: 13",
            "designation.deferred_until_month: Input should be less than or equal to 12, got 13",
        ),
        (
            "missing_verdict: fail",
            "missing_verdict: maybe",
            "criteria.c.sub_criteria.accessibility.missing_verdict: Input should be 'pass', 'fail', 'unknown' or "
            "'not_applicable', got 'maybe'",
        ),
        (
            "qualifying_phases: [acceleration,",
            "qualifying_phases: [scale-up,",
            "criteria.a.qualifying_phases names phases not in the 2026 vocabulary: ['scale-up']",
        ),
        (
            "required: [accessibility,",
            "required: [stats,",
            "criteria.c.required names unknown sub-criteria: ['stats'] (known: observatoire_goals, accessibility,",
        ),
        (
            "valid_into_next_year_months: 6",
            "valid_into_next_year_months: 6\n      apply_to_past_years: true",
            "criteria.c.current_checks.apply_to_past_years was removed: every year is judged on the observations of "
            "its own evidence window",
        ),
    ],
    ids=[
        "bad-value",
        "unknown-key",
        "missing-key",
        "out-of-range",
        "not-a-verdict",
        "phase",
        "sub-criterion",
        "removed",
    ],
)
def test_an_error_names_the_file_the_key_path_and_what_was_expected(tmp_path, old, new, expected):
    path = _variant(tmp_path, old, new)
    with pytest.raises(CriteriaConfigError) as error:
        load_criteria(path)
    assert str(error.value).startswith(f"criteria config {path}: ")
    assert expected in str(error.value)


def test_a_missing_file_or_not_a_mapping_is_named(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(CriteriaConfigError, match=f"criteria config {missing}: cannot read \\(No such file"):
        load_criteria(missing)
    listed = tmp_path / "list.yaml"
    listed.write_text("- version\n", encoding="utf-8")
    with pytest.raises(CriteriaConfigError, match="list.yaml: expected a mapping at the top level"):
        load_criteria(listed)
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [\n", encoding="utf-8")
    with pytest.raises(CriteriaConfigError, match="broken.yaml: not valid YAML"):
        load_criteria(broken)
