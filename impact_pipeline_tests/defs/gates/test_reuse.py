"""A gate whose validated rows are unchanged reuses its earlier clean GX result; any change runs GX again."""

from __future__ import annotations

import json

import duckdb
import pytest

from impact_pipeline.defs.gates.specs import Suite, between, not_null, rule, unique
from impact_pipeline.defs.gates.validate import frame_fingerprint, result_path, run_suite, write_result

N = 3_000


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute(
        f"CREATE TABLE t AS SELECT i AS k, i % 10 AS score, TIMESTAMP '2026-01-01' AS fetched_at, 'x' AS v "
        f"FROM range({N}) r(i)"
    )
    yield connection
    connection.close()


def suite(max_score: int = 9) -> Suite:
    return Suite(
        "t",
        "reuse",
        "a test suite",
        [unique(["k"]), not_null("fetched_at"), between("score", 0, max_score)],
        key=("k",),
    )


def fingerprint(con, s: Suite) -> str:
    specs = s.resolve()
    return frame_fingerprint(con, s, specs, s.query(specs, verdict_only=True))


def validate_and_keep(con, s: Suite, folder, run_id: str):
    outcome = run_suite(con, s, reuse=result_path(s, folder), chunk_rows=1024)
    write_result(outcome, folder, run_id)
    return outcome


def test_fingerprint_follows_the_validated_rows_and_the_suite(con):
    before = fingerprint(con, suite())
    assert fingerprint(con, suite()) == before
    # A fetch time that moves at each run is only checked for presence: the frame, and its fingerprint, stay.
    con.execute("UPDATE t SET fetched_at = TIMESTAMP '2026-11-29 02:00:00'")
    assert fingerprint(con, suite()) == before
    # Any value an expectation reads, a duplicated row, a missing row or another threshold changes it.
    con.execute("UPDATE t SET score = 3 WHERE k = 17")
    changed = fingerprint(con, suite())
    assert changed != before
    con.execute("INSERT INTO t SELECT * FROM t WHERE k = 5")
    duplicated = fingerprint(con, suite())
    assert duplicated not in (before, changed)
    con.execute("DELETE FROM t WHERE k = 5")
    assert fingerprint(con, suite()) not in (before, changed, duplicated)
    assert fingerprint(con, suite(max_score=8)) != fingerprint(con, suite())
    con.execute("UPDATE t SET fetched_at = NULL WHERE k = 1")
    assert fingerprint(con, suite()) != fingerprint(con, suite()).replace(":", ";")  # well-formed
    assert fingerprint(con, suite()).split(":")[1] == str(N - 1)


def test_unchanged_rows_reuse_the_clean_result_and_say_where_it_comes_from(con, tmp_path):
    first = validate_and_keep(con, suite(), tmp_path, "run-1")
    assert first.passed and not first.failures and first.reused_from is None and first.fingerprint
    con.execute("UPDATE t SET fetched_at = now()")  # a new fetch of the same content
    second = validate_and_keep(con, suite(), tmp_path, "run-2")
    assert second.reused_from is not None and second.reused_from["run_id"] == "run-1"
    assert second.passed and second.n_rows == N and second.result["success"] is True
    assert [r["success"] for r in second.result["results"]] == [True, True, True]
    third = validate_and_keep(con, suite(), tmp_path, "run-3")
    assert third.reused_from["run_id"] == "run-1"  # the run that actually validated, not the last reuser
    kept = json.loads(result_path(suite(), tmp_path).read_text())["meta"]["impact_pipeline"]
    assert kept["run_id"] == "run-3" and kept["reused_from"]["run_id"] == "run-1" and kept["clean"] is True


def test_a_change_in_the_rows_is_validated_again_and_caught(con, tmp_path):
    validate_and_keep(con, suite(), tmp_path, "run-1")
    con.execute("INSERT INTO t SELECT * FROM t WHERE k = 42")  # a duplicate key
    outcome = validate_and_keep(con, suite(), tmp_path, "run-2")
    assert outcome.reused_from is None
    assert not outcome.passed and [f.spec.label for f in outcome.failures] == ["k is unique"]
    # A failing result is never reused, even on identical rows: the gate is run again.
    again = validate_and_keep(con, suite(), tmp_path, "run-3")
    assert again.reused_from is None and not again.passed


def test_results_with_warnings_are_reused_with_their_warnings_and_other_suites_are_not(con, tmp_path):
    warned = Suite(
        "t", "reuse", "a test suite", [unique(["k"]), rule("score below 5", "t.score < 5", severity="warn")], key=("k",)
    )
    first = validate_and_keep(con, warned, tmp_path, "run-1")
    assert first.passed and first.warnings
    # The same rows give the same warnings: shown as the validation showed them, without running GX again.
    again = validate_and_keep(con, warned, tmp_path, "run-2")
    assert again.reused_from["run_id"] == "run-1" and again.passed and len(again.warnings) == 1
    assert again.summary() == first.summary() and again.markdown() == first.markdown()
    assert validate_and_keep(con, warned, tmp_path, "run-3").markdown() == first.markdown()
    con.execute("UPDATE t SET score = 4 WHERE k = 9")  # one warning less: validated again
    assert validate_and_keep(con, warned, tmp_path, "run-4").reused_from is None
    validate_and_keep(con, suite(), tmp_path, "run-3")
    assert validate_and_keep(con, suite(max_score=9), tmp_path, "run-4").reused_from is not None
    assert validate_and_keep(con, suite(max_score=99), tmp_path, "run-5").reused_from is None


def test_without_reuse_nothing_is_fingerprinted(con, tmp_path):
    outcome = run_suite(con, suite(), chunk_rows=1024)
    assert outcome.fingerprint is None and outcome.reused_from is None
    path = write_result(outcome, tmp_path, "run-1")
    assert json.loads(path.read_text())["meta"]["impact_pipeline"]["fingerprint"] is None
    assert run_suite(con, suite(), reuse=path).reused_from is None


def test_a_table_smaller_than_a_chunk_is_validated_once(con):
    # Uniqueness sorts and holds back the last key's rows for the next chunk; when there is no next chunk,
    # they stay in the one frame.
    outcome = run_suite(con, suite(), chunk_rows=100_000)
    assert outcome.result["meta"]["frames_validated"] == 1 and outcome.n_rows == N
    chunked = run_suite(con, suite(), chunk_rows=1024)
    assert chunked.result["meta"]["frames_validated"] == 2 and chunked.n_rows == N  # 2048 + 952 rows


def test_columns_only_checked_for_presence_enter_the_frame_as_present_or_absent():
    s = Suite(
        "t",
        "reuse",
        "a test suite",
        [
            not_null("fetched_at"),
            not_null("evidence"),
            not_null("year"),
            rule("a pass has evidence", "t.score < 9", show=("evidence", "year")),
        ],
        key=("k",),
    )
    query = s.query(s.resolve(), {"fetched_at": "TIMESTAMP", "evidence": "JSON", "year": "INTEGER", "score": "BIGINT"})
    assert '(t."fetched_at" IS NOT NULL OR NULL) AS "fetched_at"' in query  # a new fetch time keeps the fingerprint
    # Text stays reduced even when shown beside offending rows (never a million JSON documents in memory);
    # a number shown beside them keeps its value.
    assert '(t."evidence" IS NOT NULL OR NULL) AS "evidence"' in query
    assert '(t."year" IS NOT NULL OR NULL)' not in query and 't."year"' in query


def test_a_value_only_shown_beside_broken_rows_does_not_change_the_fingerprint(con, tmp_path):
    # fetched_at is checked for presence and shown beside the rows breaking a rule: GX's frame keeps its value
    # (to show it), the fingerprint only its presence and the rule's outcome.
    shown = Suite(
        "t",
        "reuse",
        "a test suite",
        [
            unique(["k"]),
            not_null("fetched_at"),
            rule("score below 10", "t.score < 10", show=("fetched_at", "v")),
        ],
        key=("k",),
    )
    specs = shown.resolve()
    types = {"k": "BIGINT", "score": "BIGINT", "fetched_at": "TIMESTAMP", "v": "VARCHAR"}
    assert 't."fetched_at"' in shown.query(specs, types)
    assert '(t."fetched_at" IS NOT NULL OR NULL) AS "fetched_at"' in shown.query(specs, types, verdict_only=True)
    assert '"v"' not in shown.query(specs, types, verdict_only=True)
    first = validate_and_keep(con, shown, tmp_path, "run-1")
    assert first.passed and not first.failures
    con.execute("UPDATE t SET fetched_at = now(), v = 'y'")
    assert validate_and_keep(con, shown, tmp_path, "run-2").reused_from["run_id"] == "run-1"
    # A row breaking the rule changes the rule column: validated again, and the offending row shows its values.
    con.execute("UPDATE t SET score = 12 WHERE k = 7")
    broken = validate_and_keep(con, shown, tmp_path, "run-3")
    assert broken.reused_from is None and [f.spec.label for f in broken.failures] == ["score below 10"]
    assert broken.failures[0].rows[0]["k"] == 7 and broken.failures[0].rows[0]["v"] == "y"
    assert broken.failures[0].rows[0]["fetched_at"] is not None and broken.failures[0].rows[0]["fetched_at"] is not True


@pytest.mark.parametrize(
    "expectations",
    [
        [unique(["k"]), not_null("fetched_at")],  # sorted and chunked on k
        [not_null("fetched_at"), between("score", 0, 9)],  # chunked as it comes
    ],
)
def test_an_empty_table_gets_a_clean_gx_result_that_later_runs_reuse(con, tmp_path, expectations):
    # A table with no rows (registry_findings of a clean registry) is validated as an empty frame: a GX result
    # where every expectation holds, so the next run reuses it instead of importing GX to find it empty again.
    con.execute("DELETE FROM t")
    empty = Suite("t", "reuse", "a test suite", expectations, key=("k",))
    first = validate_and_keep(con, empty, tmp_path, "run-1")
    assert first.result["success"] is True and first.result["meta"]["frames_validated"] == 1
    assert first.n_rows == 0 and [r["success"] for r in first.result["results"]] == [True, True]
    assert validate_and_keep(con, empty, tmp_path, "run-2").reused_from["run_id"] == "run-1"
    con.execute("INSERT INTO t VALUES (1, 42, NULL, 'x')")  # a first row (a broken one): validated again
    assert validate_and_keep(con, empty, tmp_path, "run-3").reused_from is None


def test_a_value_checked_only_for_a_set_counts_as_its_membership(con, tmp_path):
    from impact_pipeline.defs.gates.specs import in_set

    con.execute("ALTER TABLE t ADD COLUMN status VARCHAR DEFAULT 'ok'")
    statuses = Suite(
        "t",
        "reuse",
        "a test suite",
        [
            unique(["k"]),
            not_null("status"),
            in_set("status", ["ok", "not_modified", "error"]),
        ],
        key=("k",),
    )
    first = validate_and_keep(con, statuses, tmp_path, "run-1")
    assert first.passed and not first.failures
    # A status moving within the set (a 304 answer the next night) changes no verdict: the result is reused.
    con.execute("UPDATE t SET status = 'not_modified' WHERE k % 2 = 0")
    assert validate_and_keep(con, statuses, tmp_path, "run-2").reused_from["run_id"] == "run-1"
    # A status that vanished or left the set is validated again, and caught.
    con.execute("UPDATE t SET status = NULL WHERE k = 3")
    missing = validate_and_keep(con, statuses, tmp_path, "run-3")
    assert missing.reused_from is None and [f.spec.label for f in missing.failures] == ["status is present"]
    con.execute("UPDATE t SET status = 'exploded' WHERE k = 3")
    strange = validate_and_keep(con, statuses, tmp_path, "run-4")
    assert strange.reused_from is None and [f.spec.expectation for f in strange.failures] == [
        "ExpectColumnValuesToBeInSet"
    ]
    assert strange.failures[0].rows[0]["status"] == "exploded"  # GX's frame keeps the value to show it
