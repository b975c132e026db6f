"""Large tables are validated a chunk at a time: the outcome must be the one of the whole table."""

from __future__ import annotations

import duckdb
import pytest

from impact_pipeline.defs.gates.specs import Suite, in_set, not_null, rule, unique
from impact_pipeline.defs.gates.validate import run_suite, validate_frame

N = 9_000  # more than four DuckDB vectors: with chunk_rows=2048 the table is read in five chunks or more


@pytest.fixture
def con():
    connection = duckdb.connect()
    # Keys in an order unrelated to the sort the chunking uses, so duplicates land far apart in the stream.
    connection.execute(
        f"CREATE TABLE t AS SELECT (i * 7919) % {N} AS k, (i % 3)::VARCHAR AS grp, 'x' AS v, i AS position "
        f"FROM range({N}) r(i)"
    )
    yield connection
    connection.close()


def suite(*specs) -> Suite:
    return Suite("t", "chunked", "a test suite", list(specs), key=("k",))


def in_one_frame(con, s: Suite):
    """The reference: the whole table validated as one frame."""
    specs = s.resolve()
    return validate_frame(con.execute(s.query(specs)).df(), s, specs)


def outcome_counts(outcome) -> dict[str, tuple[int | None, int | None]]:
    return {f.spec.label: (f.unexpected_count, f.element_count) for f in outcome.failures}


def test_a_clean_table_passes_in_chunks(con):
    outcome = run_suite(con, suite(unique(["k"]), not_null("v"), in_set("v", ["x"])), chunk_rows=2048)
    assert outcome.passed and outcome.failures == []
    assert outcome.n_rows == N
    assert outcome.result["meta"]["frames_validated"] >= 5
    assert outcome.result["success"] is True


def test_duplicates_far_apart_and_across_a_chunk_boundary_are_found(con):
    # One key repeated at the first and last positions of the table, and pairs of equal keys that sit on
    # either side of each 2048-row boundary of the sorted stream: every one of them must be seen.
    con.execute(f"UPDATE t SET k = 0 WHERE position = {N - 1}")  # position 0 already has k = 0
    con.execute("UPDATE t SET k = k - 1 WHERE k IN (2048, 4096, 6144, 8192)")  # k = 0 twice: shifted by one
    specs = (unique(["k"]),)
    chunked = run_suite(con, suite(*specs), chunk_rows=2048)
    whole = in_one_frame(con, suite(*specs))
    assert chunked.result["meta"]["frames_validated"] >= 4
    assert outcome_counts(chunked) == outcome_counts(whole) == {"k is unique": (2 + 4 * 2, N)}
    assert not chunked.passed


def test_compound_uniqueness_groups_on_the_shared_columns(con):
    con.execute("UPDATE t SET grp = '0', k = 42 WHERE position IN (5, 8000)")
    specs = (unique(["k", "grp"]), unique(["k"]))
    chunked = run_suite(con, suite(*specs), chunk_rows=2048)
    whole = in_one_frame(con, suite(*specs))
    assert outcome_counts(chunked) == outcome_counts(whole)
    assert outcome_counts(chunked)["one row per (k, grp)"][0] >= 2


def test_failures_in_several_chunks_add_up_and_show_a_few_rows(con):
    con.execute("UPDATE t SET v = 'bad' WHERE position % 1000 = 0")  # 9 rows spread over every chunk
    rule_spec = rule("position is below 8500", "t.position < 8500", show=("position",))
    outcome = run_suite(con, suite(in_set("v", ["x"]), rule_spec), chunk_rows=2048)
    counts = outcome_counts(outcome)
    assert counts["v in {x}"] == (9, N)
    assert counts["position is below 8500"] == (N - 8500, N)
    shown = {f.spec.label: f.rows for f in outcome.failures}
    assert 0 < len(shown["v in {x}"]) <= 5 and all(row["v"] == "bad" for row in shown["v in {x}"])
    assert all(row["position"] >= 8500 for row in shown["position is below 8500"])
    document = outcome.result
    assert document["success"] is False
    assert document["statistics"]["unsuccessful_expectations"] == 2
    by_label = {r["expectation_config"]["meta"]["label"]: r["result"] for r in document["results"]}
    assert by_label["v in {x}"]["unexpected_count"] == 9 and by_label["v in {x}"]["element_count"] == N
