"""The declarative layer of the data-quality gates: what a table must satisfy, as plain data.

A `Suite` is one Dagster asset check on one table: a list of `ExpectationSpec`, each naming a Great
Expectations (GX Core 1.x) expectation class and its arguments. Nothing here imports GX, pandas or
DuckDB: the code location loads this module. `validate.py` turns a suite into a GX validation at run
time; `asset_checks.py` turns suites into blocking `@dg.asset_check`s.

Cross-table or conditional rules ("a pass needs a qualifying phase", "every incubator id resolves") are
written as a DuckDB boolean expression (`rule`): it becomes a derived column of the validated frame and
the GX expectation is "this column is always true". Inside the expression the validated row is `t`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from impact_pipeline import contract
from impact_pipeline.lib.sql import sql_list

ERROR, WARN = "error", "warn"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: a GX expectation class (by name) with its arguments, a label and a severity."""

    label: str  # what a person reads in the UI, e.g. "startup_id is unique"
    expectation: str  # GX class name in `great_expectations.expectations`, e.g. "ExpectColumnValuesToNotBeNull"
    kwargs: dict[str, Any] = field(default_factory=dict)
    severity: str = ERROR  # ERROR blocks publication; WARN is reported and lets the data through
    derived: tuple[tuple[str, str], ...] = ()  # (column, DuckDB expression over the row `t`) added to the frame
    show: tuple[str, ...] = ()  # columns shown beside the key for offending rows

    def __post_init__(self) -> None:
        if self.severity not in (ERROR, WARN):
            raise ValueError(f"severity must be {ERROR!r} or {WARN!r}, got {self.severity!r}")

    @property
    def read_columns(self) -> tuple[str, ...]:
        """Columns the GX expectation itself reads."""
        cols = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        cols += list(self.kwargs.get("column_list", ()))
        return tuple(dict.fromkeys(cols))

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns shown with offending rows: the `show` ones and those the expectation reads."""
        return tuple(dict.fromkeys([*self.show, *self.read_columns]))


Specs = Sequence[ExpectationSpec]


@dataclass(frozen=True)
class Suite:
    """One blocking asset check: the expectations a table (an asset of the same name) must meet.

    `specs` is a list, or a function of the criteria config (for thresholds read from criteria.yaml).
    `frame_sql` is the query whose result is validated (default: the whole table, every year).
    """

    table: str
    name: str
    description: str
    specs: Specs | Callable[[Any], Specs]
    key: tuple[str, ...] = ()
    frame_sql: str | None = None
    additional_deps: tuple[str, ...] = ()  # other assets the check reads (run after them)
    # Validated by GX's SQL engine inside DuckDB (large tables) instead of its pandas engine over streamed chunks.
    in_database: bool = False
    # A table whose history only grows: the column whose values order the rows runs add (a check's time). Rows beyond
    # the last clean validation's largest value are the new ones (`validate._validate_growth`); the suite's rules
    # must then be row-wise (a window over the table would see only part of it).
    history: str | None = None
    # Columns shown beside offending rows that the frame does not hold: (name, DuckDB expression over the row `t`).
    # Computed on those rows only: an expression over a large JSON text costs nothing on a clean table.
    shown_sql: tuple[tuple[str, str], ...] = ()

    @property
    def gate_name(self) -> str:
        return f"{self.table}:{self.name}"

    @property
    def blocking(self) -> bool:
        """False when every expectation is a warning: the UI then shows the check as non-blocking, as it is."""
        return callable(self.specs) or any(spec.severity != WARN for spec in self.specs)

    def resolve(self, config: Any = None) -> list[ExpectationSpec]:
        specs = self.specs(config) if callable(self.specs) else self.specs
        return list(specs)

    def base_sql(self) -> str:
        return self.frame_sql or f'SELECT * FROM "{self.table}"'

    def query(self, specs: Specs, types: dict[str, str] | None = None, *, verdict_only: bool = False) -> str:
        """The validated frame: only the columns the expectations read, the key, and the derived rule columns.

        Columns only shown beside offending rows come only on rows that break a rule (NULL elsewhere), and
        text-like ones (`types`: column -> DuckDB type) cut to a display width: a table of large JSON
        evidence is never loaded whole into memory to validate three of its columns.

        `verdict_only` gives the frame reduced to what the expectations' outcomes depend on (for its fingerprint,
        `validate.frame_fingerprint`): no shown-only columns (NULL on every row of a clean frame), and every column
        read only by "is present" expectations as present/absent, shown or not (a new fetch time shown beside a
        broken row cannot change a verdict: a broken row changes its rule column).
        """
        base = self.base_sql()
        types = types or {}
        derived = {name: expr for spec in specs for name, expr in spec.derived}
        read = list(dict.fromkeys([*self.key, *(c for spec in specs for c in spec.read_columns)]))
        shown = list(dict.fromkeys(c for spec in specs for c in spec.show if c not in read and c not in derived))
        # A column read only by "is present" expectations needs only its nullness: a large JSON text is not loaded
        # to be found non-null, and a fetch time that moves at each run leaves the frame (and its fingerprint,
        # see `validate.frame_fingerprint`) as it was.
        # A column shown beside offending rows keeps its value, unless it is large (the frame never holds the
        # JSON evidence of a million service-years: offending rows then show whether it is present).
        shown_anywhere = {c for spec in specs for c in spec.show}
        null_checked = {
            c
            for c in read
            if c not in self.key
            and (verdict_only or c not in shown_anywhere or _is_bulky(types.get(c, "")))
            and all(spec.expectation == "ExpectColumnValuesToNotBeNull" for spec in specs if c in spec.read_columns)
        }
        # For the fingerprint, a column only checked for presence and membership of a set counts as its presence and
        # membership (a repository's status going from `ok` to `not_modified` changes no verdict).
        in_sets = {
            c: [
                spec.kwargs["value_set"]
                for spec in specs
                if c in spec.read_columns and spec.expectation == "ExpectColumnValuesToBeInSet"
            ]
            for c in read
        }
        membership = {
            c
            for c in read
            if verdict_only
            and c not in self.key
            and c not in derived
            and c not in null_checked
            and in_sets[c]
            and all(
                spec.expectation in ("ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeInSet")
                for spec in specs
                if c in spec.read_columns
            )
        }

        def column(c: str) -> str:
            if c in null_checked:
                return f'(t."{c}" IS NOT NULL OR NULL) AS "{c}"'
            if c in membership:
                tests = ", ".join(
                    f'CASE WHEN t."{c}" IS NULL THEN NULL ELSE t."{c}" IN {sql_list(values)} END'
                    for values in in_sets[c]
                )
                return f'[t."{c}" IS NOT NULL, {tests}] AS "{c}"'
            return f't."{c}"'

        if verdict_only:
            shown = []
        if not read and not shown:
            return f"SELECT TRUE AS _row FROM ({base}) AS t"
        clashes = sorted(set(derived) & set(types))
        if clashes:
            raise ValueError(f"{self.gate_name}: rule columns {clashes} have the names of columns of the frame")
        # The rule columns are computed once (inner query, beside every column of the row); the columns shown
        # beside offending rows are computed in CASE branches, so only on those rows (DuckDB evaluates a branch
        # on the rows that take it): a clean frame never casts or extracts them.
        shown_sql = dict(self.shown_sql)
        outer = [column(c) for c in read if c not in derived]
        broken = " OR ".join(f'NOT t."{name}"' for name in derived) or "FALSE"
        for c in shown:
            value = f"({shown_sql[c]})" if c in shown_sql else f't."{c}"'
            if c in shown_sql or _is_bulky(types.get(c, "")):
                value = f"left(CAST({value} AS VARCHAR), {SHOWN_WIDTH})"
            outer.append(f'CASE WHEN {broken} THEN {value} END AS "{c}"')
        outer += [f't."{name}"' for name in derived]
        rules = "".join(f', ({expr}) AS "{name}"' for name, expr in derived.items())
        return f"SELECT {', '.join(outer)} FROM (SELECT t.*{rules} FROM ({base}) AS t) AS t"


# Shown-only text columns are cut to this width in the frame (offending rows display at most 80 characters).
SHOWN_WIDTH = 200


def _is_bulky(duckdb_type: str) -> bool:
    """Text, JSON and nested values can be large; numbers, dates and booleans are shown as they are."""
    t = duckdb_type.upper()
    return t in ("VARCHAR", "JSON", "BLOB") or t.endswith("[]") or t.startswith(("STRUCT", "MAP", "UNION"))


# --- building blocks -------------------------------------------------------------------------


def not_null(column: str, severity: str = ERROR) -> ExpectationSpec:
    return ExpectationSpec(f"{column} is present", "ExpectColumnValuesToNotBeNull", {"column": column}, severity)


def unique(columns: Sequence[str], severity: str = ERROR) -> ExpectationSpec:
    columns = list(columns)
    if len(columns) == 1:
        return ExpectationSpec(
            f"{columns[0]} is unique", "ExpectColumnValuesToBeUnique", {"column": columns[0]}, severity
        )
    return ExpectationSpec(
        f"one row per ({', '.join(columns)})", "ExpectCompoundColumnsToBeUnique", {"column_list": columns}, severity
    )


def in_set(column: str, values: Sequence[Any], severity: str = ERROR, label: str | None = None) -> ExpectationSpec:
    """Values of `column` (NULLs aside) belong to `values`."""
    shown = ", ".join(map(str, values))
    return ExpectationSpec(
        label or f"{column} in {{{shown}}}",
        "ExpectColumnValuesToBeInSet",
        {"column": column, "value_set": list(values)},
        severity,
    )


def between(column: str, min_value: Any = None, max_value: Any = None, severity: str = ERROR) -> ExpectationSpec:
    """Values of `column` (NULLs aside) lie in [min_value, max_value] (None = unbounded)."""
    lo = "-∞" if min_value is None else min_value
    hi = "+∞" if max_value is None else max_value
    return ExpectationSpec(
        f"{column} within [{lo}, {hi}]",
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": min_value, "max_value": max_value},
        severity,
    )


def non_negative(column: str, severity: str = ERROR) -> ExpectationSpec:
    return ExpectationSpec(
        f"{column} is not negative", "ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0}, severity
    )


def ordered(start: str, end: str, severity: str = ERROR) -> ExpectationSpec:
    """`start` <= `end` wherever both are present."""
    return ExpectationSpec(
        f"{start} <= {end} when both exist",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {"column_A": end, "column_B": start, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        severity,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "rule"


def rule(label: str, condition: str, show: Sequence[str] = (), severity: str = ERROR) -> ExpectationSpec:
    """A row-level rule written in DuckDB SQL over the row `t`; NULL counts as broken.

    Example: `rule("a pass has a qualifying phase", "t.criterion_a <> 'pass' OR t.phase_at_year_end IN (...)")`.
    """
    column = f"rule_{_slug(label)}"
    return ExpectationSpec(
        label,
        "ExpectColumnValuesToBeInSet",
        {"column": column, "value_set": [True]},
        severity,
        derived=((column, f"coalesce(({condition}), FALSE)"),),
        show=tuple(show),
    )


def says_why(label: str, unless: str, reason: str, show: str) -> ExpectationSpec:
    """A row that did not succeed (every row but those where `unless` holds) names why in its `reason` column."""
    return rule(label, f"{unless} OR coalesce(t.{reason}, '') <> ''", show=(show, reason))


def references(column: str, table: str, key: str, severity: str = ERROR) -> ExpectationSpec:
    """Every non-NULL `column` value is a `key` of `table` (a foreign key that resolves)."""
    return rule(
        f"{column} refers to an existing {table}.{key}",
        f't."{column}" IS NULL OR t."{column}" IN (SELECT "{key}" FROM "{table}")',
        show=(column,),
        severity=severity,
    )


def contract_specs(table: contract.Table, *, not_required: Sequence[str] = ()) -> list[ExpectationSpec]:
    """What the table contract promises: keys present and unique, required columns non-null."""
    specs = []
    if table.key:
        specs.append(unique(table.key))
    for column in table.columns:
        if column.required and column.name not in not_required:
            specs.append(not_null(column.name))
    for name in table.key:
        if not any(c.name == name and c.required for c in table.columns):
            specs.append(not_null(name))
    return specs


def contract_suite(
    table: contract.Table,
    extra: Specs = (),
    *,
    name: str = "contract",
    not_required: Sequence[str] = (),
    description: str | None = None,
    history: str | None = None,
) -> Suite:
    """The usual suite of an ingested table: the contract's promises plus the domain's own expectations."""
    return Suite(
        table=table.name,
        name=name,
        description=description or f"{table.name}: keys unique and present, required columns non-null, domain rules.",
        specs=[*contract_specs(table, not_required=not_required), *extra],
        key=table.key,
        history=history,
    )
