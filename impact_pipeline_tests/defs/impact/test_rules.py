"""Criterion (a) and the designation rule on their own: SQL over a real DuckDB file, no Dagster run."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.impact import rules
from impact_pipeline.defs.registry.phases import create_phase_at
from impact_pipeline.lib.warehouse import ensure_tables
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "rules.duckdb"))
    ensure_tables(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def config():
    return load_criteria(DEFAULT_CRITERIA_PATH)


def add_phases(con, startup_id: str, phases: list[tuple[str, str | None, str | None]]) -> None:
    """`phases`: (published name, start, end) in the registry's list order."""
    from impact_pipeline.defs.registry.phases import normalize_phase

    for position, (phase, start, end) in enumerate(phases):
        con.execute(
            "INSERT INTO startup_phases (startup_id, position, phase, phase_normalized, start_date, end_date) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [startup_id, position, phase, normalize_phase(phase), start, end],
        )


def add_event(con, startup_id: str, position: int, name: str, when: str | None) -> None:
    con.execute(
        "INSERT INTO startup_events (startup_id, position, name, event_date) VALUES (?, ?, ?, ?)",
        [startup_id, position, name, when],
    )


def criterion_a(con, config, years):
    create_phase_at(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _p AS {rules.phase_at_year_end_sql(years)}")
    rows = con.execute(
        f"SELECT year, startup_id, verdict, reason, evidence FROM ({rules.criterion_a_sql('_p', config, {})})"
    ).fetchall()
    return {(year, sid): (verdict, reason, json.loads(evidence)) for year, sid, verdict, reason, evidence in rows}


def test_phase_at_year_end_takes_the_latest_start_and_breaks_ties_by_lifecycle(con):
    # Investigation and construction start the same day (a common registry tie), listed furthest first;
    # acceleration starts mid-2021; a later "backwards" entry starts in 2023.
    add_phases(
        con,
        "svc",
        [
            ("construction", "2019-03-01", None),
            ("investigation", "2019-03-01", "2019-06-01"),
            ("acceleration", "2021-07-01", None),
            ("construction", "2023-02-01", None),
        ],
    )
    frame = rules.phase_at_year_end(con, [2018, 2019, 2021, 2022, 2023])
    at = dict(zip(frame["year"], frame["phase_normalized"], strict=True))
    assert 2018 not in at  # no phase had started: not evaluated
    assert at[2019] == "construction"  # the tie goes to the phase furthest along
    assert at[2021] == at[2022] == "acceleration"
    assert at[2023] == "construction"  # the registry's latest start wins, even going backwards


def test_criterion_a_pass_fail_unknown_with_published_and_normalised_names(con, config):
    add_phases(con, "old-name", [("investigation", "2017-01-10", None), ("success", "2020-05-01", None)])
    add_phases(con, "building", [("construction", "2020-01-01", None)])
    add_phases(con, "odd", [("pilote", "2020-01-01", None)])
    verdicts = criterion_a(con, config, [2019, 2020])

    verdict, reason, evidence = verdicts[(2020, "old-name")]
    assert verdict == "pass"
    assert "'transfere' (published 'success')" in reason and "since 2020-05-01" in reason
    assert evidence["phase_at_year_end"] == "transfere" and evidence["phase_published"] == "success"
    assert verdicts[(2019, "old-name")][0] == "fail"  # still in investigation at the end of 2019

    verdict, reason, _ = verdicts[(2020, "building")]
    assert verdict == "fail" and "not a qualifying phase (acceleration, consolidation, transfere, opere)" in reason

    verdict, reason, _ = verdicts[(2020, "odd")]
    assert verdict == "unknown" and "'pilote'" in reason and "neither phase vocabulary" in reason
    assert (2019, "building") not in verdicts and (2019, "odd") not in verdicts


@pytest.mark.parametrize(
    ("event_date", "designated_for"),
    [
        ("2019-11-05", 2019),  # before the deferral: the event's year
        ("2021-03-01", 2021),  # early in a year before deferred_from_year: still its own year
        ("2023-01-22", 2022),  # January-June since 2022: the previous year
        ("2024-06-30", 2023),
        ("2024-07-01", 2024),  # from July: the event's year
    ],
)
def test_designation_year_follows_the_deferral_rule(con, config, event_date, designated_for):
    add_event(con, "svc", 0, config.designation.event_name, event_date)
    frame = rules.designations(con, config)
    assert frame["designation_year"].tolist() == [designated_for]
    assert (
        config.designation.designation_year(date.fromisoformat(event_date).year, date.fromisoformat(event_date).month)
        == designated_for
    )


def test_a_service_is_designated_once_by_its_earliest_event_and_other_events_do_not_count(con, config):
    add_event(con, "svc", 0, "committee", "2018-01-01")
    add_event(con, "svc", 1, config.designation.event_name, "2022-09-01")
    add_event(con, "svc", 2, config.designation.event_name, "2020-10-01")
    add_event(con, "undated", 0, config.designation.event_name, None)
    frame = rules.designations(con, config)
    assert frame[["startup_id", "designation_year"]].values.tolist() == [["svc", 2020]]
