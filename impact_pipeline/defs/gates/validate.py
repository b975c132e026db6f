"""Run a `Suite` with Great Expectations (GX Core 1.x) over a frame read from the working DuckDB file.

One ephemeral GX context per validation, progress bars and analytics off. GX, pandas and DuckDB are
imported inside the functions: the code location never pays for them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from impact_pipeline.defs.gates.specs import ERROR, WARN, ExpectationSpec, Suite

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
        head = f"{self.suite.gate_name}: {self.n_expectations - len(self.failures)}/{self.n_expectations} expectations hold on {self.n_rows} rows"
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
    if value is None:
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
        str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        .replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")
    )


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def validate_frame(frame: Any, suite: Suite, specs: list[ExpectationSpec]) -> SuiteOutcome:
    """Validate `frame` against `specs` in one ephemeral GX context; map results back to the specs."""
    _quiet_gx()
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory only: no temporary Data Docs folder, no progress bars, no analytics.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    batch = (
        context.data_sources.add_pandas("working_duckdb")
        .add_dataframe_asset(suite.table)
        .add_batch_definition_whole_dataframe("whole_table")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    gx_suite = gx.ExpectationSuite(name=suite.gate_name)
    for index, spec in enumerate(specs):
        # `meta` carries our label and position: results are mapped back to specs through it.
        meta = {"spec_index": index, "label": spec.label, "severity": spec.severity}
        gx_suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs, meta=meta))
    result = batch.validate(gx_suite, result_format="SUMMARY")

    failures = []
    shown_key = [c for c in suite.key if c in frame.columns]
    for item in result.results:
        if item.success:
            continue
        spec = specs[int((item.expectation_config.meta or {})["spec_index"])]
        info = item.exception_info or {}
        if info.get("raised_exception"):
            message = (info.get("exception_message") or "error").splitlines()[0]
            failures.append(Failure(spec, None, None, error=message))
            continue
        res = item.result or {}
        indexes = list(res.get("partial_unexpected_index_list") or [])[:MAX_ROWS_SHOWN]
        columns = [c for c in dict.fromkeys([*shown_key, *spec.columns]) if c in frame.columns
                   and not (c.startswith("rule_") and c in dict(spec.derived))]
        rows = []
        for index in indexes:
            try:
                rows.append({c: frame.at[index, c] for c in columns})
            except KeyError:
                continue
        if not rows:
            rows = [{"value": v} for v in list(res.get("partial_unexpected_list") or [])[:MAX_ROWS_SHOWN]]
        failures.append(Failure(spec, res.get("unexpected_count"), res.get("element_count"), rows))
    return SuiteOutcome(suite, len(frame), len(specs), failures, result.to_json_dict())


def run_suite(con: Any, suite: Suite, config: Any = None) -> SuiteOutcome:
    """Read the suite's frame from the (read-only) working DuckDB connection and validate it."""
    specs = suite.resolve(config)
    types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE ({suite.base_sql()})").fetchall()}
    frame = con.execute(suite.query(specs, types)).df()
    return validate_frame(frame, suite, specs)


def write_result(outcome: SuiteOutcome, folder: Path, run_id: str | None) -> Path:
    """Keep the GX result as JSON at `<folder>/<table>.<check>.json` (temp file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{outcome.suite.table}.{outcome.suite.name}.json"
    document = dict(outcome.result)
    document["meta"] = {
        **(document.get("meta") or {}),
        "impact_pipeline": {
            "gate": outcome.suite.gate_name,
            "run_id": run_id,
            "validated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "passed": outcome.passed,
            "summary": outcome.summary(),
        },
    }
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
