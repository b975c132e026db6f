"""The real registry history (`../shared/data/betagouv/history/`): dated documents, stored once,
read by year's window."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pandas as pd
import pytest

from impact_pipeline.defs.quality import criterion as c
from impact_pipeline.defs.registry import assets as registry_assets
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline_tests.defs.quality.test_criterion import CONFIG
from impact_pipeline_tests.support.pipeline import REAL_SNAPSHOT, SHARED_DATA, skip_without_shared_data

HISTORY = SHARED_DATA / "betagouv" / "history"
ASSETS = [registry_assets.registry_raw, registry_assets.registry_tables]


def ingest(root, history) -> Warehouse:
    warehouse = Warehouse(
        duckdb_path=str(root / "pub" / "impact.duckdb"), export_dir=str(root / "exp"), work_dir=str(root / "work")
    )
    resources = {"warehouse": warehouse, "registry": RegistrySource(url=str(REAL_SNAPSHOT), history=str(history))}
    result = dg.materialize(ASSETS, resources=resources, raise_on_error=False)
    assert result.success
    return warehouse


def judge_all(warehouse, years) -> dict:
    with warehouse.connect() as con:
        ids = [s for (s,) in con.execute("SELECT startup_id FROM startups ORDER BY 1").fetchall()]
        keys = pd.DataFrame([(y, s) for y in years for s in ids], columns=["year", "startup_id"])
        out = c.criterion_c(con, keys, CONFIG)
    return {(r.year, r.startup_id): r for r in out.itertuples()}


def listed(day: str) -> dict:
    document = json.loads((HISTORY / day / "startups.json").read_text(encoding="utf-8"))
    return {r["id"]: r.get("attributes") or {} for r in document["data"]}


@pytest.fixture(scope="module")
def history_world(tmp_path_factory):
    skip_without_shared_data()
    if not HISTORY.is_dir():
        pytest.skip(f"registry history not found at {HISTORY} (../shared/data is absent)")
    return ingest(tmp_path_factory.mktemp("history"), HISTORY)


def test_each_dated_document_is_stored_once_with_its_date(history_world, tmp_path):
    with history_world.connect() as con:
        rows = con.execute(
            "SELECT CAST(observed_at AS DATE)::VARCHAR, n_startups FROM registry_raw "
            "WHERE source_url LIKE '%/history/%' ORDER BY 1"
        ).fetchall()
        n_declared = dict(con.execute("SELECT sha256, count(*) FROM registry_declarations GROUP BY 1").fetchall())
    days = sorted(p.parent.name for p in HISTORY.glob("*/startups.json"))
    assert [d for d, _ in rows] == days
    assert [n for _, n in rows] == [len(listed(d)) for d in days]  # 73, 96, 186, … as in SOURCE.md
    assert len(n_declared) == len(days) + 1  # every dated document and the live one
    # A second run reads nothing again: no new row, no new document.
    resources = {"warehouse": history_world, "registry": RegistrySource(url=str(REAL_SNAPSHOT), history=str(HISTORY))}
    result = dg.materialize(ASSETS[:1], resources=resources)
    dated = result.asset_materializations_for_node("registry_raw")[0].metadata["history_documents"].value
    assert {d["stored"] for d in dated} == {"unchanged"}
    with history_world.connect() as con:
        assert con.execute("SELECT count(*) FROM registry_raw WHERE source_url LIKE '%/history/%'").fetchall()[0][
            0
        ] == len(days)


def test_each_year_reads_the_document_of_its_window(history_world):
    years = list(range(2019, 2025))
    rows = judge_all(history_world, years)
    for year in years:
        day = f"{year}-12-31"
        declared = listed(day)
        judged = [(sid, row) for (y, sid), row in rows.items() if y == year and sid in declared]
        assert len(judged) >= 0.85 * len(declared), year  # (some services were renamed or removed since)
        for sid, row in judged:
            assert row.evidence["registry_as_of"] == day, (year, sid)
            access = row.evidence["sub_criteria"]["accessibility"]
            status = (declared[sid].get("accessibility_status") or "").strip() or None
            assert access["accessibility_status"] == status, (year, sid)
    # accessibility_status first appears in the registry of 2022: from then on some services pass on it.
    assert not any(
        r.evidence["sub_criteria"]["accessibility"]["verdict"] == "pass" for (y, _), r in rows.items() if y == 2021
    )
    assert any(
        r.evidence["sub_criteria"]["accessibility"]["verdict"] == "pass" for (y, _), r in rows.items() if y == 2022
    )


def test_a_service_no_document_of_the_window_lists_is_unknown_never_fail(history_world):
    rows = judge_all(history_world, [2019, 2020])
    for year in (2019, 2020):
        absent = [sid for (y, sid) in rows if y == year and sid not in listed(f"{year}-12-31")]
        assert len(absent) > 300  # most of today's services were not in the registry yet
        for sid in absent:
            sub = rows[(year, sid)].evidence["sub_criteria"]
            assert sub["accessibility"]["verdict"] == "unknown", (year, sid)
            assert "no registry document" in sub["accessibility"]["reason"]
            assert sub["impact_statistics"]["verdict"] == "unknown" and rows[(year, sid)].verdict != "fail"


def test_adding_a_document_changes_only_the_years_of_its_window(tmp_path):
    skip_without_shared_data()
    if not HISTORY.is_dir():
        pytest.skip(f"registry history not found at {HISTORY} (../shared/data is absent)")
    partial = tmp_path / "history"
    for folder in HISTORY.glob("*/startups.json"):
        if folder.parent.name != "2022-12-31":
            (partial / folder.parent.name).mkdir(parents=True)
            shutil.copyfile(folder, partial / folder.parent.name / "startups.json")
    warehouse = ingest(tmp_path / "w", partial)
    years = list(range(2019, 2026))
    before = judge_all(warehouse, years)
    (partial / "2022-12-31").mkdir()
    shutil.copyfile(HISTORY / "2022-12-31" / "startups.json", partial / "2022-12-31" / "startups.json")
    ingest(tmp_path / "w", partial)
    after = judge_all(warehouse, years)
    changed = {k for k in before if (before[k].verdict, before[k].reason) != (after[k].verdict, after[k].reason)}
    assert changed and {y for y, _ in changed} == {2022}  # a document of 2022-12-31 is in 2022's window only
