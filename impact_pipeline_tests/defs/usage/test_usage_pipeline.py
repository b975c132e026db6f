"""Criterion (b) through the real job on the sample world's usage sources (local fixtures, offline)."""

from __future__ import annotations

import json

import duckdb


def test_sample_world_passes_fails_and_unknowns_with_reasons_and_evidence(sample_with_sources):
    # The sample world's run with its usage sources (and its quality sources, as `--sample`), 2021-2026: conftest.
    paths = sample_with_sources.paths
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    try:
        b = {
            (y, s): (v, r, json.loads(e))
            for y, s, v, r, e in con.execute(
                "SELECT year, startup_id, verdict, reason, evidence FROM criteria_evaluation WHERE criterion = 'b'"
            ).fetchall()
        }
        proposals = con.execute(
            "SELECT startup_id, kind, identifier, confirmed, status FROM usage_source_proposals ORDER BY ALL"
        ).fetchall()
        coverage = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT startup_id, no_source, officially_designated, n_discovered_in_use, "
                "n_reviewed_sources, years_with_figure "
                "FROM usage_coverage"
            ).fetchall()
        }
        reach = {
            (s, y): (v, src, d)
            for s, y, v, src, d in con.execute(
                "SELECT startup_id, year, value, source, discovered_on FROM yearly_reach"
            ).fetchall()
        }
        national = dict(con.execute("SELECT startup_id, criterion_b FROM national_impact WHERE year = 2021").fetchall())
    finally:
        con.close()

    verdict, reason, evidence = b[(2021, "exemple-boussole-demo")]  # Matomo yearly visits (fixture: 480000 in 2021)
    assert verdict == "pass"
    assert reason == (
        "(b) pass: 480,000 yearly visits in 2021 (matomo stats.exemple.test site 3) meets the threshold of "
        "100,000 (evidence: https://boussole.exemple.test/stats)."
    )
    assert (evidence["value"], evidence["threshold"], evidence["evidence_rank"], evidence["period"]) == (
        480000.0,
        100000.0,
        "measured_uses",
        "2021-01-01/2021-12-31",
    )
    assert national["exemple-boussole-demo"] == "pass"

    # Impact CSV: 12 months July 2023 → June 2024 go to 2023; measured users for 2024; the target for 2025 never counts.
    assert b[(2023, "exemple-carnet-fictif")][1] == (
        "(b) pass: 120,000 yearly uses in 2023 (impact_dataset statistiques_impact_carnet.csv, "
        "12 months 2023-07-01→2024-06-30) "
        "meets the threshold of 100,000 (evidence: https://carnet.exemple.test/stats)."
    )
    assert b[(2024, "exemple-carnet-fictif")][2]["evidence_rank"] == "measured_users"
    assert b[(2022, "exemple-carnet-fictif")][0] == "fail"

    # Metabase monthly uniques: sums 94,200 (2023) and 113,800 (2024), flagged as upper bounds.
    verdict, reason, evidence = b[(2023, "exemple-phare-opere")]
    assert (
        verdict == "fail"
        and evidence["upper_bound"] is True
        and reason.startswith("(b) fails: at most 94,200 people in 2023")
    )
    assert b[(2024, "exemple-phare-opere")][0] == "pass"

    # A source down (Matomo error body with HTTP 200): unknown, saying why; the others are unaffected.
    verdict, reason, _ = b[(2021, "demo-atelier-perennisation")]
    assert verdict == "unknown"
    assert reason == (
        "(b) unknown: no usage figure for 2021 (source matomo down: offline copy matomo_atelier_error.json: "
        "Matomo error: You can't access this resource as it requires 'view' access for the website id = 7.)."
    )
    # Declared figures: a pass with its public page, a fail below the threshold, and no page = no pass.
    assert b[(2022, "exemple-retour-arriere")][0] == "pass"
    assert b[(2022, "demo-guichet-tardif")][1] == (
        "(b) fails: 30,000 uses in 2022 (declared by Équipe Guichet (fictive)) is below the threshold of 100,000."
    )
    assert b[(2022, "demo-relais-transfer")][1] == "(b) unknown: no usage figure for 2022 (no usage source yet)."
    assert b[(2024, "demo-lanterne-2023")][0] == "fail"
    counts = {v: sum(1 for x in b.values() if x[0] == v) for v in ("pass", "fail", "unknown")}
    assert counts["pass"] >= 1 and counts["fail"] >= 1 and counts["unknown"] >= 3
    # Every pass has a public evidence URL and a value over the threshold.
    assert all(
        e["evidence_url"].startswith("https://") and e["value"] >= e["threshold"]
        for v, _, e in b.values()
        if v == "pass"
    )

    # Discovery: the mirrored stats pages propose sources; the configured Matomo site and the accepted Metabase
    # question are reviewed; the dashboard's satisfaction card, rejected in the sources file, is not offered again.
    assert proposals == [
        ("exemple-boussole-demo", "matomo", "3", True, "reviewed"),
        ("exemple-passerelle-success", "matomo", "11", False, "in_use"),
        ("exemple-passerelle-success", "metabase_dashboard", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", False, "proposed"),
        ("exemple-passerelle-success", "metabase_question", "0b7d6c1e-3f2a-4e55-8c9d-1a2b3c4d5e6f", True, "reviewed"),
    ]
    # Passerelle: its discovered Matomo site counts where no reviewed source has a figure (a pass, and below the
    # threshold no fail); the accepted question, reviewed, decides its years even against larger discovered visits.
    page = "https://passerelle.exemple.test/stats"
    assert reach[("exemple-passerelle-success", 2019)] == (112300.0, "matomo", page)  # discovered, no reviewed figure
    assert reach[("exemple-passerelle-success", 2016)][1:] == ("declared", None)  # reviewed, without a public page
    verdict, reason, evidence = b[(2021, "exemple-passerelle-success")]
    assert verdict == "fail" and evidence["source"] == "metabase" and evidence["reviewed"] is True
    verdict, reason, evidence = b[(2022, "exemple-passerelle-success")]
    assert verdict == "pass" and evidence["value"] == 104500.0 and evidence["source"] == "metabase"
    assert b[(2022, "exemple-passerelle-success")][1].endswith(f"(evidence: {page}).")
    assert coverage["exemple-passerelle-success"][:4] == (False, True, 1, 2)
    assert coverage["demo-relais-transfer"][:2] == (True, True)  # designated, no source at all: first to review
    # The report and the CLI summary count them.
    report = (paths.export_dir / "report_2025.html").read_text(encoding="utf-8")
    no_source = sum(1 for row in coverage.values() if row[0])
    assert f"{no_source} of {len(coverage)} services evaluated have no usage source" in report
    assert "<code>demo-relais-transfer</code>" in report


def test_the_cli_summary_counts_services_without_usage_source(sample_with_sources, capsys):
    from impact_pipeline.sources_cli import print_coverage

    print_coverage(sample_with_sources.paths.duckdb_path)
    out = capsys.readouterr().out
    assert out.startswith(
        "usage sources: 5 of 13 services have no source at all, 1 of them designated (demo-relais-transfer); "
        "1 with a discovered source in use"
    )
