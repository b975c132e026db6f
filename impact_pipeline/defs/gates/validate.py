"""Run a `Suite` with Great Expectations (GX Core 1.x) over a frame read from the working DuckDB file.

One ephemeral GX context per validation, progress bars and analytics off. GX, pandas and DuckDB are
imported inside the functions: the code location never pays for them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impact_pipeline.defs.gates.specs import ERROR, WARN, ExpectationSpec, Suite
from impact_pipeline.lib.sql import sql_literal

MAX_ROWS_SHOWN = 5
MAX_CELL = 80


@dataclass
class Failure:
    """One expectation that did not hold, with a few of the rows that break it."""

    spec: ExpectationSpec
    unexpected_count: int | None
    element_count: int | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the expectation could not be evaluated (counts as failing)

    def sentence(self) -> str:
        if self.error:
            return f"'{self.spec.label}' could not be evaluated ({self.error})"
        count = "" if self.unexpected_count is None else f" {self.unexpected_count} of {self.element_count} rows"
        example = ""
        if self.rows:
            example = "; e.g. " + ", ".join(f"{k}={_cell(v)}" for k, v in self.rows[0].items())
        return f"'{self.spec.label}' [{self.spec.severity}]:{count}{example}"


@dataclass
class SuiteOutcome:
    suite: Suite
    n_rows: int
    n_expectations: int
    failures: list[Failure]
    result: dict[str, Any]  # GX ExpectationSuiteValidationResult.to_json_dict()
    # What the verdict is a function of (the suite's definition, GX and DuckDB versions, the validated frame's
    # rows); None when not computed. A later run whose frame has the same fingerprint may reuse a clean result.
    fingerprint: str | None = None
    reused_from: dict[str, Any] | None = None  # {"run_id", "validated_at"} of the validation whose result is reused
    # A table that only grows (`Suite.history`): the largest `history` value validated, and how the rows added since
    # the earlier clean result were validated ({"new_rows", "earlier_rows", "new_rows_checked"}), when they were.
    history_mark: str | None = None
    grown: dict[str, Any] | None = None

    @property
    def blocking_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.spec.severity == ERROR]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.spec.severity == WARN]

    @property
    def passed(self) -> bool:
        """True when no blocking (ERROR) expectation fails: the data may be published."""
        return not self.blocking_failures

    def summary(self) -> str:
        """One paragraph naming the failing expectations and an offending row each."""
        held = self.n_expectations - len(self.failures)
        head = f"{self.suite.gate_name}: {held}/{self.n_expectations} expectations hold on {self.n_rows} rows"
        if not self.failures:
            return head
        return head + ". Failing: " + " | ".join(f.sentence() for f in self.failures)

    def markdown(self) -> str:
        """The failing expectations, each with a table of a few offending rows (check metadata)."""
        if not self.failures:
            return "_every expectation holds_"
        parts = []
        for f in self.failures:
            parts.append(f"**{_md(f.spec.label)}** ({f.spec.severity}, `{f.spec.expectation}`)")
            if f.error:
                parts.append(f"could not be evaluated: {_md(f.error)}")
                continue
            parts.append(f"{f.unexpected_count} of {f.element_count} rows break it.")
            if f.rows:
                cols = list(f.rows[0])
                parts.append("| " + " | ".join(_md(c) for c in cols) + " |")
                parts.append("|" + "---|" * len(cols))
                for row in f.rows:
                    parts.append("| " + " | ".join(_md(_cell(row[c])) for c in cols) + " |")
            parts.append("")
        return "\n".join(parts)


def _cell(value: Any) -> str:
    if value is None or type(value).__name__ == "NAType":  # pandas' missing text is pd.NA, the SQL engine's None
        return "NULL"
    try:
        if value != value:  # NaN / NaT
            return "NULL"
    except (TypeError, ValueError):
        pass
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _md(text: str) -> str:
    """Plain text in a markdown cell: no table breaks, no HTML, no links from registry data."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("`", "\\`")
    )


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)


# Frames are validated this many rows at a time: GX's pandas engine needs several times a frame's size, so a
# large table (a million service-year criteria at 100x the registry) is never held, nor validated, whole.
CHUNK_ROWS = 100_000
_VECTOR = 2048  # DuckDB's vector size: result chunks are fetched in whole vectors


# The SQL engine's frames: a table per validation in an in-memory database attached to the gate's connection, with
# each row's position in the frame (GX names offending rows by it, as the pandas engine names them by their index).
FRAMES_DATABASE = "gate_frames"
ROW_COLUMN = "_gate_row"


class _SharedConnection:
    """The gate's own DuckDB connection as SQLAlchemy's DBAPI connection (duckdb-engine's wrapper).

    GX never opens the database file: a second read-write or differently configured opening of the file would be
    refused by DuckDB, and a new connection would not see the frame's table or the rules' Python functions. Each
    cursor is a cursor of that connection (a DuckDB connection of the same database instance): SQLAlchemy rolls
    back when GX hands a connection back, before GX reads the rows, which would drop a result held by the
    connection itself. Closing GX's engine leaves the gate's connection open.
    """

    def __init__(self, con: Any) -> None:
        from duckdb_engine import ConnectionWrapper

        self._con = con
        self._wrapper = ConnectionWrapper(con)

    def cursor(self) -> Any:
        from duckdb_engine import CursorWrapper

        return CursorWrapper(self._con.cursor(), self)

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapper, name)


def _duckdb_datasource(context: Any, con: Any) -> Any:
    """A GX SQL datasource (SQLAlchemy with the duckdb-engine dialect) over the gate's connection `con`."""
    from sqlalchemy.pool import StaticPool

    return context.data_sources.add_sql(
        "working_duckdb",
        connection_string="duckdb:///:memory:",  # never opened: `creator` hands SQLAlchemy the gate's connection
        # The rule columns' names reach 65 characters: SQLAlchemy would cut labels at the PostgreSQL dialect's 63.
        kwargs={"creator": lambda: _SharedConnection(con), "poolclass": StaticPool, "max_identifier_length": 255},
    )


def _as_positions(result: dict[str, Any], con: Any, table: str) -> None:
    """The SQL engine's offending rows as positions in the frame, as the pandas engine gives them.

    Row-wise expectations name them as {ROW_COLUMN: position, column: value}; compound uniqueness only lists the
    duplicated values, whose rows are found in the frame (the first ones, in the frame's order).
    """
    listed = result.get("partial_unexpected_index_list")
    if listed and all(isinstance(entry, dict) and ROW_COLUMN in entry for entry in listed):
        result["partial_unexpected_index_list"] = [entry[ROW_COLUMN] for entry in listed]
    elif listed is None and isinstance(result.get("partial_unexpected_list"), list):
        values = result["partial_unexpected_list"]
        if not values:
            result["partial_unexpected_index_list"] = []
        if not all(isinstance(entry, dict) and entry for entry in values):
            return
        positions: list[int] = []
        for entry in {json.dumps(v, sort_keys=True, default=str): v for v in values}.values():
            where = " AND ".join(f'"{c}" IS NOT DISTINCT FROM ?' for c in entry)
            found = con.execute(
                f"SELECT {ROW_COLUMN} FROM {table} WHERE {where} ORDER BY {ROW_COLUMN} LIMIT {len(values)}",
                list(entry.values()),
            ).fetchall()
            positions += [row[0] for row in found]
        result["partial_unexpected_index_list"] = sorted(positions)[: len(values)]
    if result.get("unexpected_index_column_names") == [ROW_COLUMN]:
        del result["unexpected_index_column_names"]


class _Validation:
    """One GX suite, built once in an ephemeral context, run over one or more frames; results add up."""

    def __init__(self, suite: Suite, specs: list[ExpectationSpec], con: Any = None) -> None:
        """With `con` (a DuckDB connection), GX's SQL engine validates tables of that connection's database;
        without it, GX's pandas engine validates frames."""
        _quiet_gx()
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self.suite, self.specs = suite, specs
        # In memory only: no temporary Data Docs folder, no progress bars, no analytics.
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            analytics_enabled=False,
        )
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.con = con
        if con is None:
            self.batch_definition = (
                self.context.data_sources.add_pandas("working_duckdb")
                .add_dataframe_asset(suite.table)
                .add_batch_definition_whole_dataframe("whole_table")
            )
        else:
            self.datasource = _duckdb_datasource(self.context, con)
        self.gx_suite = gx.ExpectationSuite(name=suite.gate_name)
        for index, spec in enumerate(specs):
            # `meta` carries our label and position: results are mapped back to specs through it.
            meta = {"spec_index": index, "label": spec.label, "severity": spec.severity}
            self.gx_suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs, meta=meta))
        self.n_rows = 0
        self.n_frames = 0
        self.failures: dict[int, Failure] = {}
        self.elements: dict[int, int] = {}
        self.document: dict[str, Any] | None = None  # the GX result, counts summed over the frames

    def add(self, frame: Any) -> None:
        """Validate one frame and fold its results into the running outcome."""
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self.gx_suite, result_format="SUMMARY")

        def rows(indexes: list[Any], columns: list[str]) -> list[dict[str, Any]]:
            found = []
            for row_index in indexes:
                try:
                    found.append({c: frame.at[row_index, c] for c in columns})
                except KeyError:
                    continue
            return found

        self._fold(result, len(frame), list(frame.columns), rows)

    def add_table(self, table: str) -> None:
        """Validate a table of the connection's database with GX's SQL engine (the rows never leave DuckDB)."""
        asset = self.datasource.add_query_asset(table, query=f"SELECT * FROM {table}")
        batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
        # GX names offending rows by their position in the frame (`ROW_COLUMN`), as its pandas engine does.
        result = batch.validate(
            self.gx_suite, result_format={"result_format": "SUMMARY", "unexpected_index_column_names": [ROW_COLUMN]}
        )
        n_rows = self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        columns = [row[0] for row in self.con.execute(f"DESCRIBE {table}").fetchall() if row[0] != ROW_COLUMN]
        for item in result.results:
            _as_positions(item.result or {}, self.con, table)

        def rows(indexes: list[Any], wanted: list[str]) -> list[dict[str, Any]]:
            if not indexes or not wanted:
                return []
            selected = ", ".join(f'"{c}"' for c in [ROW_COLUMN, *wanted])
            found = self.con.execute(
                f"SELECT {selected} FROM {table} WHERE {ROW_COLUMN} IN ({', '.join('?' * len(indexes))})",
                [int(i) for i in indexes],
            ).fetchall()
            by_position = {row[0]: dict(zip(wanted, row[1:], strict=True)) for row in found}
            return [by_position[int(i)] for i in indexes if int(i) in by_position]

        self._fold(result, n_rows, columns, rows)

    def _fold(self, result: Any, n_rows: int, frame_columns: list[str], rows: Any) -> None:
        """Fold one GX validation of `n_rows` rows into the outcome; `rows(indexes, columns)` reads offending rows."""
        self.n_rows += n_rows
        self.n_frames += 1
        self._fold_document(result.to_json_dict())
        shown_key = [c for c in self.suite.key if c in frame_columns]
        for item in result.results:
            index = int((item.expectation_config.meta or {})["spec_index"])
            # Rows seen by each expectation, failing frames or not: the counts are those of the whole table.
            self.elements[index] = self.elements.get(index, 0) + int((item.result or {}).get("element_count") or 0)
            if item.success:
                continue
            spec = self.specs[index]
            info = item.exception_info or {}
            if info.get("raised_exception"):
                message = (info.get("exception_message") or "error").splitlines()[0]
                self.failures.setdefault(index, Failure(spec, None, None, error=message))
                continue
            res = item.result or {}
            failure = self.failures.setdefault(index, Failure(spec, 0, 0))
            if failure.error:
                continue
            failure.unexpected_count = (failure.unexpected_count or 0) + int(res.get("unexpected_count") or 0)
            if len(failure.rows) >= MAX_ROWS_SHOWN:
                continue
            indexes = list(res.get("partial_unexpected_index_list") or [])[: MAX_ROWS_SHOWN - len(failure.rows)]
            columns = [
                c
                for c in dict.fromkeys([*shown_key, *spec.columns])
                if c in frame_columns and not (c.startswith("rule_") and c in dict(spec.derived))
            ]
            found = rows(indexes, columns)
            if not found:
                found = [
                    {"value": v}
                    for v in list(res.get("partial_unexpected_list") or [])[: MAX_ROWS_SHOWN - len(failure.rows)]
                ]
            failure.rows.extend(found)

    def _fold_document(self, document: dict[str, Any]) -> None:
        """Keep one GX result document: each expectation's counts summed, its success only if every frame's."""
        if self.document is None:
            self.document = document
            return
        for kept, new in zip(self.document.get("results") or [], document.get("results") or [], strict=False):
            kept["success"] = bool(kept.get("success")) and bool(new.get("success"))
            kept_res, new_res = kept.get("result") or {}, new.get("result") or {}
            for count in ("element_count", "unexpected_count", "missing_count"):
                if isinstance(kept_res.get(count), int) and isinstance(new_res.get(count), int):
                    kept_res[count] += new_res[count]
            for listed in ("partial_unexpected_list", "partial_unexpected_index_list"):
                if listed in kept_res and new_res.get(listed):
                    kept_res[listed] = (list(kept_res[listed] or []) + list(new_res[listed]))[:20]
            elements = kept_res.get("element_count")
            if isinstance(elements, int) and isinstance(kept_res.get("unexpected_count"), int):
                kept_res["unexpected_percent"] = 100.0 * kept_res["unexpected_count"] / elements if elements else None
            if (new.get("exception_info") or {}).get("raised_exception"):
                kept["exception_info"] = new["exception_info"]
        results = self.document.get("results") or []
        n_ok = sum(1 for r in results if r.get("success"))
        self.document["success"] = n_ok == len(results)
        statistics = self.document.setdefault("statistics", {})
        statistics.update(
            {
                "evaluated_expectations": len(results),
                "successful_expectations": n_ok,
                "unsuccessful_expectations": len(results) - n_ok,
                "success_percent": 100.0 * n_ok / len(results) if results else None,
            }
        )

    def outcome(self) -> SuiteOutcome:
        document = dict(self.document or {})
        document["meta"] = {
            **(document.get("meta") or {}),
            "frames_validated": self.n_frames,
            "rows_validated": self.n_rows,
        }
        failures = [self.failures[i] for i in sorted(self.failures)]
        for index, failure in self.failures.items():
            if not failure.error:
                failure.element_count = self.elements.get(index, 0)
        return SuiteOutcome(self.suite, self.n_rows, len(self.specs), failures, document)


def validate_frame(frame: Any, suite: Suite, specs: list[ExpectationSpec]) -> SuiteOutcome:
    """Validate `frame` against `specs` in one ephemeral GX context; map results back to the specs."""
    validation = _Validation(suite, specs)
    validation.add(frame)
    return validation.outcome()


def _grouping_columns(specs: list[ExpectationSpec]) -> list[str] | None:
    """Columns whose equal values must land in the same frame for the uniqueness expectations to hold.

    `[]` when no expectation compares rows with each other (any split will do); `None` when two uniqueness
    expectations share no column (the frame cannot be split).
    """
    groups = [
        set(spec.read_columns)
        for spec in specs
        if spec.expectation in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")
    ]
    if not groups:
        return []
    common = set.intersection(*groups)
    return sorted(common) or None


def run_suite(
    con: Any, suite: Suite, config: Any = None, chunk_rows: int = CHUNK_ROWS, reuse: Path | None = None
) -> SuiteOutcome:
    """Read the suite's frame from the (read-only) working DuckDB connection and validate it, `chunk_rows` at a time.

    Rows are streamed from DuckDB; when an expectation compares rows (uniqueness), they come sorted on the
    columns it reads and a chunk never splits rows with equal values, so the verdict is that of the whole table.

    With `reuse` (the result file an earlier run of this gate wrote), the frame's fingerprint is computed in
    DuckDB first; when that earlier result has the same fingerprint and every expectation held, its result
    is returned without running GX: the same frame under the same suite gets the same verdict.
    """
    from impact_pipeline.lib.urls import register_duckdb_functions

    specs = suite.resolve(config)
    # The rules' own Python functions (public_evidence_url), for the same verdicts, where the suite's SQL calls them.
    register_duckdb_functions(con, called_by=suite.query(specs))
    types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE ({suite.base_sql()})").fetchall()}
    query = suite.query(specs, types)
    fingerprint = None
    if reuse is not None:
        # The frame's query runs twice when GX runs after all (rule columns are recomputed): keeping the frame in
        # a temporary table instead was measured to raise a 100x run's peak memory from 1.41 GB to 1.78 GB.
        fingerprint = frame_fingerprint(con, suite, specs, suite.query(specs, types, verdict_only=True))
        earlier = reusable_result(reuse, fingerprint, specs)
        if earlier is not None:
            document, origin, failures = earlier
            rows = int((document.get("meta") or {}).get("rows_validated") or 0)
            outcome = SuiteOutcome(suite, rows, len(specs), failures, document, fingerprint, origin)
            return _marked(con, suite, outcome)
        grown = _validate_growth(con, suite, specs, types, reuse, fingerprint, config, chunk_rows)
        if grown is not None:
            return _marked(con, suite, grown)
    grouping = _grouping_columns(specs)
    if suite.in_database:
        outcome = _validate_in_database(con, suite, specs, query, grouping or [])
    elif grouping is None:
        outcome = validate_frame(con.execute(query).df(), suite, specs)
    else:
        if grouping:
            query = f"SELECT * FROM ({query}) ORDER BY {', '.join(f'{chr(34)}{c}{chr(34)}' for c in grouping)}"
        validation = _Validation(suite, specs)
        for frame in _frames(con.execute(query), max(1, -(-chunk_rows // _VECTOR)), grouping):
            validation.add(frame)
            del frame
        outcome = validation.outcome()
    outcome.fingerprint = fingerprint
    _release_freed_memory()
    return _marked(con, suite, outcome) if reuse is not None else outcome


def _marked(con: Any, suite: Suite, outcome: SuiteOutcome) -> SuiteOutcome:
    """Note the largest `history` value of the validated table: the next run's new rows are those beyond it."""
    if suite.history:
        mark = con.execute(f'SELECT max("{suite.history}")::VARCHAR FROM ({suite.base_sql()})').fetchall()[0][0]
        outcome.history_mark = mark
    return outcome


_UNIQUENESS = ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")


def _validate_growth(
    con: Any,
    suite: Suite,
    specs: list[ExpectationSpec],
    types: dict[str, str],
    reuse: Path,
    fingerprint: str,
    config: Any,
    chunk_rows: int,
) -> SuiteOutcome | None:
    """A clean outcome for a table that only grows (`Suite.history`) whose earlier rows are unchanged, or None.

    The rows up to the earlier clean result's `history` mark must have that result's fingerprint (none changed, none
    left); uniqueness holds over the whole table (DuckDB SQL); the new rows pass every row-wise expectation: either
    each of them has the verdict-relevant values of some earlier clean row (GX would judge it as it judged that one,
    no GX needed), or GX validates the new rows alone. Anything else (None) validates the whole table with GX, as
    without history: a failing gate reports the counts and rows of the whole table.
    """
    if not suite.history or suite.history not in types:
        return None
    kept = _clean_result(reuse)
    if kept is None or kept[1].get("history_mark") is None:
        return None
    document, ours = kept
    column, bound = f'h."{suite.history}"', f"CAST({sql_literal(ours['history_mark'])} AS {types[suite.history]})"
    base = suite.base_sql()
    earlier = dataclasses.replace(suite, frame_sql=f"SELECT * FROM ({base}) AS h WHERE {column} <= {bound}")
    added = dataclasses.replace(
        suite, frame_sql=f"SELECT * FROM ({base}) AS h WHERE {column} > {bound} OR {column} IS NULL"
    )
    verdict_frame = suite.query(specs, types, verdict_only=True)
    earlier_frame = earlier.query(specs, types, verdict_only=True)
    if frame_fingerprint(con, suite, specs, verdict_frame, rows_query=earlier_frame) != ours.get("fingerprint"):
        return None
    for spec in specs:
        if spec.expectation in _UNIQUENESS:
            columns = ", ".join(f'"{c}"' for c in spec.read_columns)
            # As GX: rows whose compared values are all missing are not compared.
            present = " OR ".join(f'"{c}" IS NOT NULL' for c in spec.read_columns)
            duplicated = con.execute(
                f"SELECT 1 FROM ({verdict_frame}) WHERE {present} GROUP BY {columns} HAVING count(*) > 1 LIMIT 1"
            ).fetchall()
            if duplicated:
                return None
    added_frame = added.query(specs, types, verdict_only=True)
    n_added = con.execute(f"SELECT count(*) FROM ({added_frame})").fetchall()[0][0]
    # The values a row-wise verdict depends on: a key column only checked for presence and uniqueness (checked over the
    # whole table above) counts as present or absent, so a new check time does not make a new row unlike the earlier.
    key_only = {
        c
        for c in suite.key
        if all(s.expectation in (*_UNIQUENESS, "ExpectColumnValuesToNotBeNull") for s in specs if c in s.read_columns)
    }
    names = [row[0] for row in con.execute(f"DESCRIBE ({added_frame})").fetchall()]
    shape = ", ".join(f'("{c}" IS NOT NULL) AS "{c}"' if c in key_only else f'"{c}"' for c in names)
    unseen = con.execute(
        f"SELECT count(*) FROM (SELECT {shape} FROM ({added_frame}) EXCEPT SELECT {shape} FROM ({earlier_frame}))"
    ).fetchall()[0][0]
    checked = "each has the values of an earlier clean row"
    if unseen:
        if run_suite(con, added, config, chunk_rows=chunk_rows).failures:
            return None
        checked = "validated with Great Expectations"
    rows = int(fingerprint.split(":")[1])
    origin = ours.get("reused_from") or {"run_id": ours.get("run_id"), "validated_at": ours.get("validated_at")}
    document = dict(document)
    document["meta"] = {
        **{k: v for k, v in document["meta"].items() if k != "impact_pipeline"},
        "rows_validated": rows,
    }
    grown = {"new_rows": n_added, "earlier_rows": rows - n_added, "new_rows_checked": checked}
    return SuiteOutcome(suite, rows, len(specs), [], document, fingerprint, origin, grown=grown)


def _validate_in_database(
    con: Any, suite: Suite, specs: list[ExpectationSpec], query: str, order: list[str]
) -> SuiteOutcome:
    """Validate the frame `query` with GX's SQL engine: the frame is computed once into a table of an in-memory
    database attached to the gate's connection (the rules' columns, cross-table ones included, are not recomputed
    by each of GX's queries), rows in the order the pandas engine would see them, and dropped afterwards."""
    table = f'{FRAMES_DATABASE}."{suite.table}__{suite.name}__{uuid.uuid4().hex[:8]}"'
    # READ_WRITE: the working file is opened read-only by gates; the attached in-memory database is theirs.
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {FRAMES_DATABASE} (READ_WRITE)")
    ordering = ", ".join(f'"{c}"' for c in order)
    con.execute(
        f"CREATE TABLE {table} AS SELECT *, row_number() OVER ({f'ORDER BY {ordering}' if order else ''}) - 1 "
        f"AS {ROW_COLUMN} FROM ({query}) ORDER BY {ROW_COLUMN}"
    )
    try:
        validation = _Validation(suite, specs, con=con)
        validation.add_table(table)
        return validation.outcome()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def frame_fingerprint(
    con: Any, suite: Suite, specs: list[ExpectationSpec], query: str, rows_query: str | None = None
) -> str:
    """A digest of what a suite's verdict depends on: its expectations, the GX and DuckDB versions and the rows of
    the validated frame (`query`: `Suite.query(..., verdict_only=True)`, only what the expectations' outcomes
    depend on, with the rule columns computed).

    The rows are summed as DuckDB row hashes (order does not change a verdict; a duplicated row changes the sum).
    `rows_query` (the same frame over part of the table) gives the rows instead, under the same definition.
    """
    import hashlib
    from importlib.metadata import version

    n_rows, row_sum = con.execute(
        f"SELECT count(*), coalesce(sum(hash(f)::HUGEINT), 0) FROM ({rows_query or query}) AS f"
    ).fetchall()[0]
    definition = json.dumps(
        {
            "gate": suite.gate_name,
            "query": query,
            "engine": "sql" if suite.in_database else "pandas",
            "expectations": [[s.expectation, s.kwargs, s.severity, s.label] for s in specs],
            "great_expectations": version("great_expectations"),
            "duckdb": version("duckdb"),
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(definition.encode())
    # The code that turns GX's results into a verdict (chunking, uniqueness across chunks, the frame's query):
    # a fix there validates again instead of reusing a result it might have got wrong.
    from impact_pipeline.defs.gates import specs as specs_module

    for module in (__file__, specs_module.__file__):
        digest.update(Path(module).read_bytes())
    return f"{digest.hexdigest()[:32]}:{n_rows}:{row_sum}"


def _clean_result(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The GX result kept at `path` and our notes on it, if every expectation held in it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        ours = document["meta"]["impact_pipeline"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if ours.get("clean") is not True or document.get("success") is not True:
        return None
    return document, ours


def has_clean_results(folder: Path, table: str) -> bool:
    """True when every gate of `table` has a clean result kept in `folder` (and there is at least one)."""
    paths = list(folder.glob(f"{table}.*.json"))
    return bool(paths) and all(_clean_result(path) is not None for path in paths)


def reusable_result(
    path: Path, fingerprint: str, specs: list[ExpectationSpec] | None = None
) -> tuple[dict[str, Any], dict[str, Any], list[Failure]] | None:
    """The GX result kept at `path`, where it comes from and its warnings, if it passed for `fingerprint`.

    A result whose only failures are warnings is reused with the warnings it kept (the same rows give the same
    warnings: a registry with a phase name outside the vocabulary warns every night without GX); one with a blocking
    failure never is.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        ours = document["meta"]["impact_pipeline"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if ours.get("fingerprint") != fingerprint or ours.get("passed") is not True:
        return None
    if ours.get("clean") is True and document.get("success") is True:
        failures: list[Failure] = []
    else:
        failures = _kept_warnings(ours.get("warnings"), specs or [])
        if not failures:
            return None
    origin = ours.get("reused_from") or {"run_id": ours.get("run_id"), "validated_at": ours.get("validated_at")}
    document = dict(document)
    document["meta"] = {k: v for k, v in document["meta"].items() if k != "impact_pipeline"}
    return document, origin, failures


def _kept_warnings(kept: Any, specs: list[ExpectationSpec]) -> list[Failure]:
    """The warnings a result kept, as failures of `specs` (none when any cannot be matched to a warning of them)."""
    by_label = {spec.label: spec for spec in specs if spec.severity == WARN}
    if not isinstance(kept, list) or not kept or len(by_label) != len({s.label for s in specs if s.severity == WARN}):
        return []
    failures = []
    for item in kept:
        spec = by_label.get(item.get("label")) if isinstance(item, dict) else None
        if spec is None:
            return []
        failures.append(
            Failure(
                spec, item.get("unexpected_count"), item.get("element_count"), item.get("rows") or [], item.get("error")
            )
        )
    return failures


def _release_freed_memory() -> None:
    """Hand the heap pages the frames used back to the system (glibc keeps them otherwise; in-process runs
    go on with the next steps in the same process, DuckDB's buffers among them)."""
    import ctypes

    # No gc.collect(): with Dagster and GX loaded a full collection takes about half a second; the frames
    # are freed by reference counting already.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _frames(cursor: Any, vectors: int, grouping: list[str]) -> Iterator[Any]:
    """The result as pandas frames of about `vectors` DuckDB vectors; rows sharing `grouping` values stay together.

    The next chunk is fetched before a chunk is yielded: the last chunk is known to be the last, so its rows are
    never held back into a frame of their own (a table smaller than one chunk is validated once, not twice).
    """
    import pandas as pd

    chunk = cursor.fetch_df_chunk(vectors)
    if not len(chunk):
        # An empty table is validated too, as an empty frame: its result is GX's (every expectation holds on no
        # rows), a clean result that later runs can reuse instead of importing GX to find the table empty again.
        yield chunk
        return
    while len(chunk):
        following = cursor.fetch_df_chunk(vectors)
        if not len(following):
            yield chunk
            return
        if grouping:
            # Hold back the rows equal to the last one on `grouping`: the next chunk may hold more of them.
            keys, tail = chunk[grouping], chunk[grouping].iloc[-1]
            same = ((keys == tail) | (keys.isna() & tail.isna())).all(axis=1).to_numpy()
            boundary = len(chunk)
            while boundary > 0 and same[boundary - 1]:
                boundary -= 1
            if boundary < len(chunk):
                following = pd.concat([chunk.iloc[boundary:], following], ignore_index=True)
                chunk = chunk.iloc[:boundary]
        if len(chunk):
            yield chunk
        del chunk
        chunk = following


def result_path(suite: Suite, folder: Path) -> Path:
    """Where a gate's latest GX result is kept."""
    return folder / f"{suite.table}.{suite.name}.json"


def write_result(outcome: SuiteOutcome, folder: Path, run_id: str | None) -> Path:
    """Keep the GX result as JSON at `<folder>/<table>.<check>.json` (temp file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = result_path(outcome.suite, folder)
    document = dict(outcome.result)
    document["meta"] = {
        **(document.get("meta") or {}),
        "impact_pipeline": {
            "gate": outcome.suite.gate_name,
            "run_id": run_id,
            "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "passed": outcome.passed,
            "clean": not outcome.failures,
            "summary": outcome.summary(),
            "fingerprint": outcome.fingerprint,
            **({"reused_from": outcome.reused_from} if outcome.reused_from else {}),
            **({"history_mark": outcome.history_mark} if outcome.history_mark is not None else {}),
            # Only warnings: kept as shown (each cell as displayed), so a reuse shows them as this validation did.
            **(
                {
                    "warnings": [
                        {
                            "label": f.spec.label,
                            "unexpected_count": f.unexpected_count,
                            "element_count": f.element_count,
                            "rows": [{k: _cell(v) for k, v in row.items()} for row in f.rows],
                            "error": f.error,
                        }
                        for f in outcome.failures
                    ]
                }
                if outcome.failures and outcome.passed
                else {}
            ),
            **({"grown": outcome.grown} if outcome.grown else {}),
        },
    }
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
