"""Criterion (c) through the real job on the sample world's offline quality fixtures."""

from __future__ import annotations

import json

import duckdb


def test_sample_world_gets_c_with_sub_criteria_and_reasons_for_every_service(sample_with_sources):
    # The sample world's run with its quality sources (and its usage sources, as `--sample`), 2021-2026: conftest.
    paths = sample_with_sources.paths
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    rows = con.execute("SELECT year, startup_id, criterion_c, reasons, evidence FROM national_impact ORDER BY ALL").fetchall()
    assert rows
    for year, sid, verdict, reasons, evidence in rows:
        c = json.loads(evidence)["c"]
        assert set(c["sub_criteria"]) >= {"observatoire_goals", "accessibility", "product_evolving", "resources_shared",
                                          "impact_statistics", "team_answering"}, sid
        assert all(s["verdict"] in ("pass", "fail", "unknown", "not_applicable") and s["reason"] for s in c["sub_criteria"].values())
        if verdict != "pass":
            assert f"(c) {'fails' if verdict == 'fail' else verdict}:" in reasons
    c2026 = {sid: verdict for year, sid, verdict, _, _ in rows if year == 2026}
    # the sample world shows each verdict (data/sample/README.md, "Quality sources")
    assert c2026["exemple-boussole-demo"] == "pass" and c2026["exemple-phare-opere"] == "pass"
    assert c2026["exemple-carnet-fictif"] == "fail" and c2026["demo-guichet-tardif"] == "fail"
    assert c2026["demo-atelier-perennisation"] == "unknown" and c2026["demo-lanterne-2023"] == "unknown"
    carnet = next(json.loads(e)["c"] for y, s, _, _, e in rows if y == 2026 and s == "exemple-carnet-fictif")
    assert carnet["sub_criteria"]["observatoire_goals"]["verdict"] == "fail"
    assert con.execute("SELECT n_procedures FROM startup_observatoire WHERE startup_id = 'exemple-boussole-demo' AND year = 2026"
                       ).fetchall() == [(2,)]
    con.close()
