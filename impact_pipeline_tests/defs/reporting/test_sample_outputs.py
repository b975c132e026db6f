"""One real run of the job on the sample world: chart, reports, views, UI metadata and the README's queries."""

from __future__ import annotations

import re

import duckdb
import pytest

from impact_pipeline.defs.reporting.chart import HEIGHT_PX, WIDTH_PX, png_size
from impact_pipeline.settings import PROJECT_ROOT
from impact_pipeline.views import VIEWS

FIRST, LAST = 2016, 2026


@pytest.fixture
def sample_run(sample_every_year):
    """The sample world's 2016-2026 run, shared read-only with other modules (conftest)."""
    return sample_every_year.paths, sample_every_year.result


@pytest.fixture
def con(sample_run):
    paths, _ = sample_run
    connection = duckdb.connect(str(paths.duckdb_path), read_only=True)
    yield connection
    connection.close()


def test_chart_and_a_report_per_year_are_written_beside_the_csv(sample_run, con):
    paths, _ = sample_run
    years = [r[0] for r in con.execute("SELECT year FROM national_impact_summary ORDER BY year").fetchall()]
    assert years == list(range(FIRST, LAST + 1))
    assert png_size((paths.export_dir / "national_impact.png").read_bytes()) == (WIDTH_PX, HEIGHT_PX)
    for year in years:
        assert png_size((paths.export_dir / f"national_impact_{year}.png").read_bytes()) == (WIDTH_PX, HEIGHT_PX)
        page = (paths.export_dir / f"report_{year}.html").read_text(encoding="utf-8")
        ids = {r[0] for r in con.execute("SELECT startup_id FROM national_impact WHERE year = ?", [year]).fetchall()}
        assert set(re.findall(r'<tbody id="svc-([^"]+)"', page)) == ids
    assert not list(paths.export_dir.glob(".*.tmp")), "temp files left behind"


def test_review_lists_of_the_sample_world(sample_run, con):
    paths, _ = sample_run
    # 2022: the designated services up to 2022 none of which meets (b)/(c) yet: the sample has no usage or
    # quality source, so every designated service is on the first list and the second list is empty.
    expected = {
        r[0]
        for r in con.execute(
            "SELECT startup_id FROM national_impact WHERE year = 2022 AND designation_year <= 2022 "
            "AND NOT meets_criteria"
        ).fetchall()
    }
    assert {"demo-guichet-tardif", "exemple-retour-arriere", "exemple-passerelle-success"} <= expected
    listed = {
        r[0] for r in con.execute("SELECT startup_id FROM review_designated_not_meeting WHERE year = 2022").fetchall()
    }
    assert listed == expected
    n_summary = con.execute(
        "SELECT n_designated_not_meeting, n_meeting_not_designated FROM national_impact_summary WHERE year = 2022"
    ).fetchall()[0]
    assert n_summary == (len(expected), 0)
    page = (paths.export_dir / "report_2022.html").read_text(encoding="utf-8")
    first = page[page.index('id="review-designated-not-meeting"') : page.index('id="review-meeting-not-designated"')]
    assert set(re.findall(r'href="#svc-([^"]+)"', first)) == expected
    assert "Review: designated but not meeting the criteria in 2022 (6)" in page


def test_every_table_view_and_column_is_commented(con):
    tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
    views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    assert {v.name for v in VIEWS} <= set(views)
    for name, comment in {**tables, **views}.items():
        assert comment, f"{name} has no comment"
    missing = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE (comment IS NULL OR comment = '') "
        "AND table_name IN (SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() "
        "WHERE NOT internal)"
    ).fetchall()
    assert missing == []
    for view in VIEWS:
        columns = [r[0] for r in con.execute(f'DESCRIBE "{view.name}"').fetchall()]
        assert columns == view.column_names, view.name


def test_service_history_view(con):
    rows = con.execute(
        "SELECT year, criterion_a, designated_this_year, officially_designated FROM service_history "
        "WHERE startup_id = 'demo-guichet-tardif' ORDER BY year"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(2020, LAST + 1))
    assert [r for r in rows if r[2]] == [(2022, "fail", True, True)]
    assert [r[3] for r in rows] == [False, False] + [True] * (LAST - 2021)
    latest = con.execute("SELECT DISTINCT year FROM latest_year").fetchall()
    assert latest == [(LAST,)]


# The README's "Querying" examples (also extracted from README.md below, so a pasted change is tested too).
EXAMPLES = [
    """SELECT startup_id, name, designation_year, criterion_a, criterion_b, criterion_c, reasons
       FROM review_designated_not_meeting WHERE year = 2025 ORDER BY name""",
    "SELECT startup_id, name, first_year_meeting FROM review_meeting_not_designated WHERE year = 2025 ORDER BY name",
    """SELECT year, phase_at_year_end, criterion_a, criterion_b, criterion_c, meets_criteria, designated_this_year
       FROM service_history WHERE startup_id = 'exemple-boussole-demo' ORDER BY year""",
    """SELECT criterion, verdict, reason, evidence FROM criteria_evaluation
       WHERE startup_id = 'exemple-boussole-demo' AND year = 2025 ORDER BY criterion""",
    """SELECT year, evidence->'$.a' AS a_evidence, evidence->>'$.a.phase_at_year_end' AS phase
       FROM national_impact WHERE startup_id = 'exemple-boussole-demo' ORDER BY year""",
    """SELECT year, n_evaluated, n_meeting_criteria, n_first_meeting, n_designated_in_year, n_designated_cumulative
       FROM national_impact_summary ORDER BY year""",
    "SELECT table_name, comment FROM duckdb_tables() UNION ALL SELECT view_name, "
    "comment FROM duckdb_views() WHERE NOT internal",
    "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE table_name = 'national_impact'",
]


def _readme_sql() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.find("### Querying")
    section = text[start : text.find("\n## ", start)] if start >= 0 else ""
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    statements = []
    for block in blocks:
        code = "\n".join(line.split("--")[0] for line in block.splitlines())
        statements += [s.strip() for s in code.split(";") if s.strip()]
    return statements


# The one README list the sample world leaves empty, and the table that says it must be.
EMPTY_ON_SAMPLE = {
    "review_meeting_not_designated": "SELECT count(*) FROM national_impact "
    "WHERE year = 2025 AND meets_criteria AND NOT officially_designated",
}


@pytest.mark.parametrize("sql", EXAMPLES + _readme_sql())
def test_querying_examples_answer_on_the_sample_output(con, sql):
    """A query pasted from the README answers on the sample world: rows with a value in every column."""
    cursor = con.execute(sql)
    rows = cursor.fetchall()
    empty = [check for view, check in EMPTY_ON_SAMPLE.items() if view in sql]
    if empty:
        assert rows == [] and con.execute(empty[0]).fetchone()[0] == 0
        return
    assert rows, f"no answer: {sql}"
    for column, values in zip([d[0] for d in cursor.description], zip(*rows, strict=True), strict=True):
        assert any(v is not None for v in values), f"column {column} is always NULL: {sql}"


def test_querying_examples_answer_the_questions(con):
    history = con.execute(EXAMPLES[2]).fetchall()
    assert [r[0] for r in history] == list(range(2017, LAST + 1)) and history[4][-1] is True  # 2021
    phases = dict((y, p) for y, _, p in con.execute(EXAMPLES[4]).fetchall())
    assert phases[2017] == "construction" and phases[2018] == "acceleration"
    assert [r[0] for r in con.execute(EXAMPLES[0]).fetchall()] != []


def test_pandas_example(sample_run):
    paths, _ = sample_run
    with duckdb.connect(str(paths.duckdb_path), read_only=True) as connection:
        history = connection.execute(
            "SELECT * FROM service_history WHERE startup_id = ?", ["exemple-boussole-demo"]
        ).df()
        review = connection.execute("SELECT * FROM review_designated_not_meeting WHERE year = ?", [2025]).df()
    assert list(history["year"]) == list(range(2017, LAST + 1))
    assert "demo-guichet-tardif" in set(review["startup_id"])


def _materializations(result) -> dict[str, dict]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            m = event.event_specific_data.materialization
            out[m.asset_key.to_user_string()] = m.metadata
    return out


def test_every_materialization_carries_row_count_and_preview(sample_run):
    _, result = sample_run
    materialized = _materializations(result)
    assert {"registry_raw", "published_outputs", "national_impact_chart", "national_impact_report"} <= set(materialized)
    for key, metadata in materialized.items():
        assert "dagster/row_count" in metadata, f"{key} has no row count"
        if metadata["dagster/row_count"].value:  # nothing to preview in an empty (e.g. disabled) source
            assert {"preview", "summary"} & set(metadata), f"{key} has no preview"
    chart = materialized["national_impact_chart"]["chart"].value
    assert chart.startswith("![National impact by year](data:image/png;base64,")
    assert materialized["national_impact_report"]["latest_report"].value.endswith(f"report_{LAST}.html")
    # the evidence coverage on the asset page too (its warnings are tested on an offline run, test_cli.py)
    coverage = materialized["national_impact_report"]["evidence_coverage"].value
    assert all(f"- ({c}) " in coverage for c in "abc") and "with a source" in coverage


def test_a_typed_xlsx_beside_every_csv(sample_run, con):
    """Published with the CSV, from the same rows: Excel opens the accents and the numbers right."""
    import csv

    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl (dev extra) reads the workbook back")
    paths, _ = sample_run
    for year in (FIRST, LAST):
        sheet = openpyxl.load_workbook(paths.export_dir / f"national_impact_{year}.xlsx", read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        with open(paths.export_dir / f"national_impact_{year}.csv", encoding="utf-8", newline="") as fh:
            lines = list(csv.reader(fh))
        assert list(rows[0]) == lines[0] and len(rows) == len(lines)
        for cells in rows[1:]:
            assert isinstance(cells[0], int) and cells[0] == year
            assert isinstance(cells[7], bool) and isinstance(cells[8], bool)
        names = {r[0] for r in con.execute("SELECT name FROM national_impact WHERE year = ?", [year]).fetchall()}
        assert {cells[2] for cells in rows[1:]} == names  # accents as published
