"""The `.xlsx` export beside each CSV: typed cells that Excel opens right (accents, numbers, true/false).

Excel reads a UTF-8 CSV without a BOM as Latin-1 and garbles accents; the CSV stays the standard one and this
workbook is the spreadsheet-ready copy. XlsxWriter writes text as text cells (never formulas, never links), so
no apostrophe is needed against formula injection.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

from impact_pipeline import contract

# Excel's limit for one cell; longer evidence is cut, saying where the whole text is.
MAX_CELL = 32_767
_CUT = "… (cut at Excel's cell limit: the whole text is in the CSV and the DuckDB file)"
# A fixed creation date: the same data gives the same bytes, publication after publication.
_CREATED = datetime(2016, 1, 1)


def _text(value: str) -> str:
    return value if len(value) <= MAX_CELL else value[: MAX_CELL - len(_CUT)] + _CUT


def write_xlsx_atomically(path: Path, table: contract.Table, rows: list[tuple]) -> None:
    """One sheet named after the table: a header row (with each column's description as a comment), typed
    cells (integers, booleans, dates, text), the header frozen and filterable; temp name, then rename."""
    import xlsxwriter

    from impact_pipeline.lib.warehouse import _fsync_and_replace

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        book = xlsxwriter.Workbook(
            str(tmp),
            {
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "constant_memory": True,
            },
        )
        book.set_properties({"created": _CREATED, "title": table.description})
        sheet = book.add_worksheet(table.name[:31])
        bold = book.add_format({"bold": True})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for col, column in enumerate(table.columns):
            sheet.write_string(0, col, column.name, bold)
            sheet.write_comment(0, col, column.description)
            sheet.set_column(col, col, 60 if column.type == "JSON" or column.name == "reasons" else 16)
        for r, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                _write(sheet, r, col, value, day, moment)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(rows), 1), len(table.columns) - 1)
        book.close()
        _fsync_and_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_xlsx_beside(csv_path: Path, previous_dir: Path, table: contract.Table, rows: list[tuple]) -> bool:
    """The workbook beside a CSV just written, from the same rows. When the previous publication (`previous_dir`)
    has the same CSV bytes and its workbook, that workbook is copied instead of written again (about 70 ms a year
    of the real registry, saved in a nightly run). True when written."""
    import shutil

    path = csv_path.with_suffix(".xlsx")
    before_csv, before_xlsx = previous_dir / csv_path.name, previous_dir / path.name
    try:
        same = before_xlsx.is_file() and before_csv.read_bytes() == csv_path.read_bytes()
    except OSError:
        same = False
    if same:
        shutil.copyfile(before_xlsx, path)
        return False
    write_xlsx_atomically(path, table, rows)
    return True


def _write(sheet, row: int, col: int, value: Any, day, moment) -> None:
    if value is None:
        return  # an empty cell, as the CSV's empty field
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, (int, float)):
        sheet.write_number(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, moment)
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime(value.year, value.month, value.day), day)
    else:
        sheet.write_string(row, col, _text(str(value)))
