"""A table whose history only grows is validated incrementally: new rows, uniqueness over the whole table, and
the earlier rows' clean result reused; anything else is validated whole, with the report of the whole table."""

from __future__ import annotations

import duckdb
import pytest

from impact_pipeline.defs.gates.specs import Suite, in_set, not_null, rule, unique
from impact_pipeline.defs.gates.validate import result_path, run_suite, write_result

N = 500


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute(
        f"CREATE TABLE checks AS SELECT 'svc-' || i AS startup_id, TIMESTAMP '2026-01-01' AS checked_at, "
        f"CASE WHEN i % 2 = 0 THEN 'stats_url' ELSE 'repository' END AS kind, i % 3 <> 0 AS ok, "
        f"CASE WHEN i % 3 = 0 THEN 'timeout' END AS error FROM range({N}) r(i)"
    )
    yield connection
    connection.close()


SUITE = Suite(
    "checks",
    "contract",
    "a growing history of checks",
    [
        unique(["startup_id", "kind", "checked_at"]),
        not_null("startup_id"),
        not_null("checked_at"),
        in_set("kind", ["stats_url", "repository"]),
        rule("a failed check says why", "t.ok OR coalesce(t.error, '') <> ''", show=("ok", "error")),
    ],
    key=("startup_id", "kind", "checked_at"),
    history="checked_at",
)


def validate(con, folder, run_id):
    outcome = run_suite(con, SUITE, reuse=result_path(SUITE, folder), chunk_rows=1024)
    write_result(outcome, folder, run_id)
    return outcome


def new_checks(con, when: str, error: str = "'timeout'", kind: str = "kind") -> None:
    """A run's checks of every service, as the URL checks add them each night."""
    con.execute(
        f"INSERT INTO checks SELECT startup_id, TIMESTAMP '{when}', {kind}, ok, CASE WHEN NOT ok THEN {error} END "
        "FROM checks WHERE checked_at = TIMESTAMP '2026-01-01'"
    )


def test_new_rows_like_earlier_clean_ones_need_no_great_expectations(con, tmp_path):
    first = validate(con, tmp_path, "run-1")
    assert first.passed and first.grown is None and first.history_mark.startswith("2026-01-01")
    new_checks(con, "2026-01-02")
    second = validate(con, tmp_path, "run-2")
    assert second.passed and second.reused_from["run_id"] == "run-1" and second.n_rows == 2 * N
    assert second.grown == {
        "new_rows": N,
        "earlier_rows": N,
        "new_rows_checked": "each has the values of an earlier clean row",
    }
    new_checks(con, "2026-01-03", error="'HTTP 404'")  # other reasons: the rule's outcome is what counts
    third = validate(con, tmp_path, "run-3")
    assert third.grown["earlier_rows"] == 2 * N and third.reused_from["run_id"] == "run-1"


def test_new_rows_of_a_new_shape_are_validated_alone_with_great_expectations(con, tmp_path):
    validate(con, tmp_path, "run-1")
    # A shape no earlier row has (an absent kind, which no expectation forbids): GX validates the new rows.
    new_checks(con, "2026-01-02", kind="CASE WHEN startup_id = 'svc-1' THEN NULL ELSE kind END")
    grown = validate(con, tmp_path, "run-2")
    assert grown.passed and grown.grown["new_rows_checked"] == "validated with Great Expectations"
    assert grown.grown["new_rows"] == N and grown.n_rows == 2 * N


@pytest.mark.parametrize(
    "breakage, label",
    [
        (
            "INSERT INTO checks VALUES ('svc-new', TIMESTAMP '2026-01-02', 'stats_url', FALSE, NULL)",
            "a failed check says why",
        ),
        (
            "INSERT INTO checks VALUES ('svc-new', TIMESTAMP '2026-01-02', 'sitemap', TRUE, NULL)",
            "kind in {stats_url, repository}",
        ),
        (
            "INSERT INTO checks SELECT * FROM checks WHERE startup_id = 'svc-4'",  # a duplicate: an earlier row again
            "one row per (startup_id, kind, checked_at)",
        ),
        ("UPDATE checks SET error = NULL WHERE startup_id = 'svc-3'", "a failed check says why"),  # an earlier row
    ],
    ids=["new-row-breaks-a-rule", "new-row-out-of-set", "duplicate", "earlier-row-changed"],
)
def test_a_broken_table_is_validated_whole_and_reported_as_before(con, tmp_path, breakage, label):
    validate(con, tmp_path, "run-1")
    new_checks(con, "2026-01-02")
    con.execute(breakage)
    outcome = validate(con, tmp_path, "run-2")
    assert outcome.grown is None and outcome.reused_from is None and not outcome.passed
    assert [f.spec.label for f in outcome.failures] == [label]
    whole = run_suite(con, SUITE)  # the report of a validation of the whole table, without history
    assert outcome.summary() == whole.summary() and outcome.markdown() == whole.markdown()


# The nightly run, in a fresh interpreter (this one has imported GX long ago): what each gate did, whether GX was
# imported, and where from if it was.
NIGHTLY = """
import json, pickle, sys, traceback, threading
class _Trace:
    def find_spec(self, name, path, target=None):
        if name == "great_expectations":
            sys.stderr.write("GXIMPORT " + threading.current_thread().name + "\\n" + "".join(traceback.format_stack()))
        return None
sys.meta_path.insert(0, _Trace())
from impact_pipeline_tests.support.pipeline import run_years
settings = pickle.loads(bytes.fromhex(sys.argv[1]))
result = run_years(settings, 2026, 2026)
gates = {}
for event in result.all_events:
    if event.event_type_value == "ASSET_CHECK_EVALUATION":
        data = event.event_specific_data
        gates[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data.metadata["validation"].value
print(json.dumps({"success": result.success, "gx": "great_expectations" in sys.modules, "gates": gates}))
"""


def test_a_nightly_run_of_unchanged_sources_does_not_import_great_expectations(
    tmp_path, sample_registry, sample_with_sources
):
    import json
    import os
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    from impact_pipeline_tests.support.pipeline import with_sample_sources

    paths = sample_with_sources.copy_to(tmp_path / "run")
    settings = with_sample_sources(paths.settings(sample_registry.url("/startups.json")))
    root = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if k != "IMPACT_SAMPLE"}
    proc = subprocess.run(
        [sys.executable, "-c", NIGHTLY, pickle.dumps(settings).hex()],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    nightly = json.loads(proc.stdout.strip().splitlines()[-1])
    assert nightly["success"]
    validations = nightly["gates"]
    # The sample's unknown phase name warns every night: the warning is reused with the unchanged rows.
    assert validations["startup_phases:known_phases"].startswith("reused: ")
    assert not [gate for gate, how in validations.items() if how == "run with Great Expectations"]
    assert nightly["gx"] is False, proc.stderr[proc.stderr.find("GXIMPORT") :][:3000]
