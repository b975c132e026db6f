"""Criterion (c) through the real job on the sample world's offline quality fixtures."""

from __future__ import annotations

import json

import duckdb


def test_sample_world_gets_c_with_sub_criteria_and_reasons_for_every_service(sample_with_sources):
    # The sample world's run with its quality sources (and its usage sources, as `--sample`), 2021-2026: conftest.
    paths = sample_with_sources.paths
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    rows = con.execute(
        "SELECT year, startup_id, criterion_c, reasons, evidence FROM national_impact ORDER BY ALL"
    ).fetchall()
    assert rows
    for _year, sid, verdict, reasons, evidence in rows:
        c = json.loads(evidence)["c"]
        assert set(c["sub_criteria"]) >= {
            "observatoire_goals",
            "accessibility",
            "product_evolving",
            "resources_shared",
            "impact_statistics",
            "team_answering",
        }, sid
        assert all(
            s["verdict"] in ("pass", "fail", "unknown", "not_applicable") and s["reason"]
            for s in c["sub_criteria"].values()
        )
        if verdict != "pass":
            assert f"(c) {'fails' if verdict == 'fail' else verdict}:" in reasons
    c2026 = {sid: verdict for year, sid, verdict, _, _ in rows if year == 2026}
    # the sample world shows each verdict (data/sample/README.md, "Quality sources")
    assert c2026["exemple-boussole-demo"] == "pass" and c2026["exemple-phare-opere"] == "pass"
    assert c2026["exemple-carnet-fictif"] == "fail" and c2026["demo-guichet-tardif"] == "fail"
    assert c2026["demo-atelier-perennisation"] == "unknown" and c2026["demo-lanterne-2023"] == "unknown"
    carnet = next(json.loads(e)["c"] for y, s, _, _, e in rows if y == 2026 and s == "exemple-carnet-fictif")
    assert carnet["sub_criteria"]["observatoire_goals"]["verdict"] == "fail"
    assert con.execute(
        "SELECT n_procedures FROM startup_observatoire WHERE startup_id = 'exemple-boussole-demo' AND year = 2026"
    ).fetchall() == [(2,)]
    con.close()


def test_past_years_meet_the_criteria_on_dated_evidence_and_the_backtest_shows_it(sample_with_sources):
    """With the sample's registry history and web archive, past years pass (c) on observations of their own window."""
    from impact_pipeline.explain import explain

    paths = sample_with_sources.paths
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    try:
        meeting = set(con.execute("SELECT year, startup_id FROM national_impact WHERE meets_criteria").fetchall())
        c_2021 = json.loads(
            con.execute(
                "SELECT evidence FROM national_impact WHERE year = 2021 AND startup_id = 'exemple-boussole-demo'"
            ).fetchall()[0][0]
        )["c"]
        backtest = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT year, n_designated, n_meeting, n_designated_meeting, share_designated_meeting, "
                "disagreements::VARCHAR "
                "FROM designation_backtest"
            ).fetchall()
        }
        text = explain(con, "exemple-phare-opere", 2023)
    finally:
        con.close()
    assert {
        (2021, "exemple-boussole-demo"),
        (2022, "exemple-retour-arriere"),
        (2023, "exemple-carnet-fictif"),
        (2024, "exemple-carnet-fictif"),
        (2025, "demo-lanterne-2023"),
    } <= meeting
    stats = c_2021["sub_criteria"]["impact_statistics"]
    # The registry of 2021-12-31 declares the page; the archive captured it answering in 2021: nothing from later.
    assert stats["reason"] == (
        "https://boussole.exemple.test/stats captured answering HTTP 200 on 2021-09-14 (web archive: "
        "https://web.archive.org/web/20210914080000/https://boussole.exemple.test/stats)"
    )
    assert c_2021["registry_as_of"] == "2021-12-31"
    assert (
        c_2021["sub_criteria"]["accessibility"]["reason"]
        == "registry of 2021-12-31: accessibility 'totalement conforme'"
    )
    assert backtest[2022][:4] == (2, 1, 1, 0.5)  # retour meets 2022; guichet (designated for 2022) fails (a)
    assert "demo-guichet-tardif" in backtest[2022][4] and '"deciding_criterion":"a"' in backtest[2022][4]
    assert "exemple-carnet-fictif" in backtest[2023][4] and "meeting, not designated" in backtest[2023][4]
    # phare, designated for 2023: a stats page only ever captured answering 404 that year.
    assert "Backtest 2023: 0 of 1 services designated for 2023 meet the criteria (0 %)" in text
    assert "This service is a disagreement: designated for the year, not meeting, decided by (b) fail." in text
    page = (paths.export_dir / "report_2023.html").read_text(encoding="utf-8")
    section = page[page.index('id="designation-backtest"') : page.index('id="services"')]
    assert "Exemple – Phare Opéré" in section and "decided by (b) fail" in section
