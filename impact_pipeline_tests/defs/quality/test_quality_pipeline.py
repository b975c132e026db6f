"""Criterion (c) through the real job on the sample world's offline quality fixtures."""

from __future__ import annotations

import dataclasses
import json

import duckdb

from impact_pipeline.settings import SAMPLE_DIR, SAMPLE_QUALITY_DIR
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.pipeline import PipelinePaths, failure_text, run_years


def test_sample_world_gets_c_with_sub_criteria_and_reasons_for_every_service(tmp_path):
    body = (SAMPLE_DIR / "startups.json").read_bytes()
    with LocalServer({"/startups.json": Route(body=body, headers={"Content-Type": "application/json"})}) as server:
        paths = PipelinePaths(tmp_path)
        settings = dataclasses.replace(
            paths.settings(server.url("/startups.json")),
            observatoire_url=str(SAMPLE_QUALITY_DIR / "observatoire"),
            observatoire_hosts_path=str(SAMPLE_QUALITY_DIR / "observatoire_hosts.yaml"),
            github_api_url=str(SAMPLE_QUALITY_DIR / "github"),
            gitlab_api_url=str(SAMPLE_QUALITY_DIR / "gitlab"),
            gitlab_self_hosted=False,
            url_checks=True,
            url_checks_recorded=str(SAMPLE_QUALITY_DIR / "url_checks.json"),
        )
        result = run_years(settings, 2025, 2026)
    assert result.success, failure_text(result)
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
