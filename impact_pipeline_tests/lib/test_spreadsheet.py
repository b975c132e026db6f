"""The `.xlsx` export: typed cells a spreadsheet opens right, read back with openpyxl."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from impact_pipeline import contract
from impact_pipeline.lib.spreadsheet import MAX_CELL, write_xlsx_atomically
from impact_pipeline.lib.warehouse import write_csv_atomically

openpyxl = pytest.importorskip("openpyxl", reason="openpyxl (dev extra) reads the workbook back")

TABLE = contract.Table(
    "demo",
    "a demo table",
    (
        contract.Column("year", "INTEGER", "the year"),
        contract.Column("name", "VARCHAR", "a name"),
        contract.Column("meets", "BOOLEAN", "a flag"),
        contract.Column("value", "DOUBLE", "a figure"),
        contract.Column("day", "DATE", "a day"),
        contract.Column("evidence", "JSON", "long text"),
    ),
)
ROWS = [
    (2024, "Démarches simplifiées – Élysée", True, 125000.5, date(2024, 3, 1), '{"a": 1}'),
    (2025, "=HYPERLINK(\"http://evil\")", False, None, None, "x" * (MAX_CELL + 10)),
    (2025, "https://example.org", None, 0, date(2025, 12, 31), ""),
]


def test_cells_are_typed_and_text_stays_text(tmp_path):
    path = tmp_path / "demo.xlsx"
    write_xlsx_atomically(path, TABLE, ROWS)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "demo"
    assert [c.value for c in sheet[1]] == ["year", "name", "meets", "value", "day", "evidence"]
    assert sheet["A1"].comment.text == "the year"
    first = [c.value for c in sheet[2]]
    assert first[:4] == [2024, "Démarches simplifiées – Élysée", True, 125000.5]
    assert first[4].date() == date(2024, 3, 1) and sheet["E2"].number_format == "yyyy-mm-dd"
    # a formula-looking text is a text cell, never a formula; a URL is not made a link
    assert sheet["B3"].data_type == "s" and sheet["B3"].value.startswith("=HYPERLINK")
    assert sheet["B4"].hyperlink is None
    assert sheet["C3"].value is False and sheet["D3"].value is None  # NULL is an empty cell
    assert len(sheet["F3"].value) == MAX_CELL and "whole text is in the CSV" in sheet["F3"].value
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_rows_give_the_same_bytes_and_the_csv_is_unchanged(tmp_path):
    write_xlsx_atomically(tmp_path / "a.xlsx", TABLE, ROWS)
    write_xlsx_atomically(tmp_path / "b.xlsx", TABLE, ROWS)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    write_csv_atomically(tmp_path / "demo.csv", TABLE.column_names, ROWS)
    raw = (tmp_path / "demo.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # the standard CSV: no BOM
    with open(tmp_path / "demo.csv", encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh))[2][1] == "'=HYPERLINK(\"http://evil\")"  # still neutralised there


def test_the_workbook_is_copied_from_the_previous_publication_when_its_csv_is_unchanged(tmp_path):
    from impact_pipeline.lib.spreadsheet import write_xlsx_beside

    previous, new = tmp_path / "previous", tmp_path / "new"
    previous.mkdir(), new.mkdir()
    write_csv_atomically(previous / "demo.csv", TABLE.column_names, ROWS)
    assert write_xlsx_beside(previous / "demo.csv", tmp_path / "none", TABLE, ROWS)  # first publication
    write_csv_atomically(new / "demo.csv", TABLE.column_names, ROWS)
    assert not write_xlsx_beside(new / "demo.csv", previous, TABLE, ROWS)  # same rows: copied
    assert (new / "demo.xlsx").read_bytes() == (previous / "demo.xlsx").read_bytes()
    changed = [ROWS[0], ROWS[1]]
    write_csv_atomically(new / "demo.csv", TABLE.column_names, changed)
    assert write_xlsx_beside(new / "demo.csv", previous, TABLE, changed)
    assert openpyxl.load_workbook(new / "demo.xlsx").active.max_row == 3
