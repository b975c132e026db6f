"""Realistic answers of the usage sources, end to end: a local server serves what the live APIs answer (quirks
included), the adapters read it, `yearly_reach` ranks it and criterion (b) judges it over a real DuckDB file."""

from __future__ import annotations

from datetime import date

import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.usage.reach import yearly_reach
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.lib.urls import web_address
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
from impact_pipeline_tests.defs.usage.test_reach_and_criterion import judge_b  # noqa: F401 (a fixture)
from impact_pipeline_tests.support.http_server import Route

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)
TODAY = date(2026, 3, 15)
EVIDENCE = "https://svc.example.org/stats"


def _resource(tmp_path, services: dict) -> UsageSources:
    import yaml

    path = tmp_path / "usage_sources.yaml"
    path.write_text(yaml.safe_dump({"first_year": 2022, "services": services}), encoding="utf-8")
    return UsageSources(sources_path=str(path), http=HttpSettings(allow_private_network=True))


def _collect(tmp_path, services: dict, startups=None):
    usage = _resource(tmp_path, services)
    return usage.collect(startups or {sid: sid for sid in services}, today=TODAY)


def _reach(observations):
    return yearly_reach(
        observations,
        is_public=lambda url: web_address(url) is not None,
        threshold=CONFIG.criteria.b.min_yearly_reach,
    )


@pytest.fixture
def judge(request):
    b = request.getfixturevalue("judge_b")  # asked by name: a `judge_b` parameter would shadow the import
    return lambda keys, reach, phases=(): b(keys, reach=list(reach), phases=phases)


# -- 14.2: Matomo nb_users = 0 (no User-ID) and nb_uniq_visitors = 0 beside real visits -------------------------


def test_matomo_zero_users_beside_visits_is_not_computed_and_the_visits_decide(tmp_path, local_server, judge):
    # VisitsSummary.get over a date range, period=year, as Matomo answers a site without User-ID: nb_users 0,
    # nb_uniq_visitors 0 (not processed for year periods), an empty year `[]` before the site existed.
    local_server.add(
        "/index.php",
        Route(
            body={
                "2022": [],
                "2023": {
                    "nb_uniq_visitors": 0,
                    "nb_users": 0,
                    "nb_visits": 48210,
                    "nb_actions": 120331,
                    "bounce_count": 20110,
                    "sum_visit_length": 5120330,
                    "max_actions": 312,
                    "bounce_rate": "42%",
                    "nb_actions_per_visit": 2.5,
                    "avg_time_on_site": 106,
                },
                "2024": {
                    "nb_uniq_visitors": 0,
                    "nb_users": 0,
                    "nb_visits": 231877,
                    "nb_actions": 702344,
                    "bounce_count": 90012,
                    "sum_visit_length": 25120330,
                    "max_actions": 505,
                    "bounce_rate": "39%",
                    "nb_actions_per_visit": 3,
                    "avg_time_on_site": 108,
                },
                "2025": {"nb_uniq_visitors": 150321, "nb_users": 0, "nb_visits": 260004, "nb_actions": 800000},
                "2026": {"nb_uniq_visitors": 0, "nb_users": 0, "nb_visits": 0, "nb_actions": 0},
            }
        ),
    )
    collected = _collect(
        tmp_path,
        {"svc": [{"type": "matomo", "base_url": local_server.url("/"), "site_id": 4, "evidence_url": EVIDENCE}]},
    )
    flagged = {(o["period_start"].year, o["indicator"]) for o in collected.observations if o["not_computed"]}
    assert flagged == {
        (2023, "nb_users"),
        (2023, "nb_uniq_visitors"),
        (2024, "nb_users"),
        (2024, "nb_uniq_visitors"),
        (2025, "nb_users"),
    }
    # A 0 beside 0 visits is a measure of nothing happening, not "not computed".
    assert not any(o["not_computed"] for o in collected.observations if o["period_start"].year == 2026)
    # Kept as observations, for the record.
    assert len([o for o in collected.observations if o["period_start"].year == 2024]) == 3

    reach = {r["year"]: r for r in _reach(collected.observations)}
    assert (reach[2024]["value"], reach[2024]["evidence_rank"], reach[2024]["unit"]) == (
        231877.0,
        "measured_uses",
        "visits",
    )
    assert (reach[2025]["value"], reach[2025]["unit"]) == (150321.0, "visitors")  # real uniques are measured users
    assert 2022 not in reach  # the empty year is no figure, not a zero

    got = judge([(2022, "svc"), (2024, "svc")], reach.values())
    assert got[(2024, "svc")]["verdict"] == "pass"
    assert got[(2024, "svc")]["reason"].startswith("(b) pass: 231,877 yearly visits in 2024")
    assert got[(2022, "svc")]["verdict"] == "unknown"


# -- 14.5: partial years -----------------------------------------------------------------------------------------

HEADER = (
    "administration_rattachement,nom_service_public_numerique,indicateur,valeur,unite_mesure,est_cible,"
    "type_indicateur,frequence_monitoring,date,est_periode,date_debut,est_automatise,source_collecte"
)


def _monthly_csv(name: str, first_month: int, value: str, year: int = 2024, last_month: int = 12) -> str:
    import calendar

    lines = [HEADER]
    for m in range(first_month, last_month + 1):
        end = calendar.monthrange(year, m)[1]
        lines.append(
            f'DINUM,{name},Nombre de demandes,"{value}",unité,false,usage,mensuelle,'
            f"{year}-{m:02d}-{end},true,{year}-{m:02d}-01,true,script"
        )
    return "\n".join(lines) + "\n"


def test_a_first_year_starting_in_june_is_a_lower_bound_judged_against_the_first_phase(tmp_path, local_server, judge):
    # Impact datasets of services launched in June 2024: monthly rows from June only.
    local_server.add("/big.csv", Route(body=_monthly_csv("Gros", 6, "20 000"), headers={"Content-Type": "text/csv"}))
    local_server.add("/new.csv", Route(body=_monthly_csv("Neuf", 6, "8 000"), headers={"Content-Type": "text/csv"}))
    local_server.add("/old.csv", Route(body=_monthly_csv("Ancien", 5, "8 000"), headers={"Content-Type": "text/csv"}))

    def spec(path):
        return [{"type": "impact_csv", "url": local_server.url(path), "evidence_url": EVIDENCE, "name": "impact CSV"}]

    collected = _collect(
        tmp_path, {"svc-big": spec("/big.csv"), "svc-new": spec("/new.csv"), "svc-old": spec("/old.csv")}
    )
    reach = {r["startup_id"]: r for r in _reach(collected.observations)}
    big = reach["svc-big"]
    assert (big["year"], big["value"], big["lower_bound"], big["coverage"]) == (2024, 140000.0, True, "June–December")
    assert (big["period_start"], big["period_end"], big["last_uncovered_day"]) == (
        date(2024, 6, 1),
        date(2024, 12, 31),
        date(2024, 5, 31),
    )
    assert "the figures cover June–December only" in big["note"]

    got = judge(
        [(2024, "svc-big"), (2024, "svc-new"), (2024, "svc-old")],
        reach.values(),
        phases=[
            ("svc-big", "investigation", date(2024, 6, 3)),
            ("svc-new", "construction", date(2024, 6, 1)),
            ("svc-new", "investigation", date(2024, 6, 1)),
            ("svc-old", "investigation", date(2023, 2, 1)),
            ("svc-old", "acceleration", date(2024, 3, 1)),
        ],
    )
    # A lower bound at or above the threshold passes.
    assert got[(2024, "svc-big")]["verdict"] == "pass"
    assert got[(2024, "svc-big")]["reason"].startswith(
        "(b) pass: at least 140,000 yearly uses in 2024 (impact_dataset impact CSV; "
        "figures cover June–December only) meets"
    )
    assert got[(2024, "svc-big")]["evidence"]["coverage"] == "June–December"
    # Below it: the months not covered precede the service, so the figure is the year's: a fail.
    new = got[(2024, "svc-new")]
    assert new["verdict"] == "fail"
    assert new["reason"] == (
        "(b) fails: at least 56,000 yearly uses in 2024 (impact_dataset impact CSV; figures cover "
        "June–December only) is below the threshold of 100,000 (the months not covered precede the "
        "service's first phase, 2024-06-01)."
    )
    # The service existed in the months not covered: unknown.
    old = got[(2024, "svc-old")]
    assert old["verdict"] == "unknown"
    assert old["reason"] == (
        "(b) unknown: at least 64,000 yearly uses in 2024 (impact_dataset impact CSV; figures cover "
        "May–December only) is below the threshold of 100,000, but the months not covered are not "
        "all before the service's first phase (2023-02-01)."
    )
    assert old["evidence"]["lower_bound"] is True and old["evidence"]["first_phase_start"] == "2023-02-01"


# -- 14.11: the best figure that can support a verdict decides ------------------------------------------------


def test_a_public_lower_ranked_figure_decides_a_pass_when_the_top_one_has_no_public_url(tmp_path, local_server, judge):
    # Matomo with a token (its dashboard is not public, no evidence URL configured): yearly unique visitors rank first.
    local_server.add(
        "/index.php", Route(body={"2024": {"nb_uniq_visitors": 410000, "nb_users": 0, "nb_visits": 655000}})
    )
    # The service's public impact dataset counts its yearly procedures.
    csv = (
        HEADER + "\nDINUM,Svc,Nombre de demandes,\"180 500\",unité,false,usage,annuelle,"
        "2024-12-31,true,2024-01-01,true,script\n"
    )
    local_server.add("/impact.csv", Route(body=csv, headers={"Content-Type": "text/csv"}))
    low_csv = (
        HEADER + "\nDINUM,Svc,Nombre de demandes,\"12 000\",unité,false,usage,annuelle,"
        "2024-12-31,true,2024-01-01,true,script\n"
    )
    local_server.add("/low.csv", Route(body=low_csv, headers={"Content-Type": "text/csv"}))
    import yaml

    path = tmp_path / "usage_sources.yaml"
    matomo = {"type": "matomo", "base_url": local_server.url("/"), "site_id": 9}
    path.write_text(
        yaml.safe_dump(
            {
                "first_year": 2024,
                "services": {
                    "svc": [
                        matomo,
                        {"type": "impact_csv", "url": local_server.url("/impact.csv"), "evidence_url": EVIDENCE},
                    ],
                    "svc-low": [
                        matomo,
                        {"type": "impact_csv", "url": local_server.url("/low.csv"), "evidence_url": EVIDENCE},
                    ],
                },
            }
        ),
        encoding="utf-8",
    )
    usage = UsageSources(
        sources_path=str(path),
        http=HttpSettings(allow_private_network=True),
        matomo_tokens={"IMPACT_MATOMO_TOKEN_127_0_0_1": "t0ken"},
    )
    collected = usage.collect({"svc": "Svc", "svc-low": "Svc"}, today=TODAY)
    reach = {r["startup_id"]: r for r in _reach(collected.observations)}
    row = reach["svc"]
    assert (row["value"], row["evidence_rank"], row["evidence_url"]) == (180500.0, "measured_uses", EVIDENCE)
    import json

    top = json.loads(row["top_figure"])
    assert (top["value"], top["evidence_rank"], top["source"]) == (410000.0, "measured_users", "matomo")
    # A public figure below the threshold cannot pass: the top one stays, without public evidence.
    assert reach["svc-low"]["value"] == 410000.0 and reach["svc-low"]["top_figure"] is None

    got = judge([(2024, "svc"), (2024, "svc-low")], reach.values())
    passed = got[(2024, "svc")]
    assert passed["verdict"] == "pass"
    assert passed["reason"].endswith(
        f"(evidence: {EVIDENCE}); the top-ranked figure, 410,000 users "
        f"(matomo {top['source_ref']}), has no public evidence URL."
    )
    assert passed["evidence"]["evidence_url"] == EVIDENCE
    assert passed["evidence"]["top_figure"]["value"] == 410000.0  # the evidence lists both
    assert got[(2024, "svc-low")]["verdict"] == "unknown"


# -- 14.3: bespoke JSON with list filters, string values and nested keys -----------------------------------------


def test_json_value_paths_with_a_year_filter_string_values_and_nested_keys(tmp_path, local_server):
    # A service's open-data stats file: one element per year, values printed with French grouping.
    local_server.add(
        "/stats.json",
        Route(
            body={
                "service": "Svc",
                "mise_a_jour": "2026-02-01",
                "data": [
                    {"annee": 2023, "valeur": "1 234 567", "unite": "démarches"},
                    {"annee": "2024", "valeur": "2\u202f345\u202f678", "unite": "démarches"},
                    {"annee": 2025, "valeur": "n.c.", "unite": "démarches"},
                ],
                "cumul": {"usagers": {"depuis_lancement": {"total": "9 876 543"}}},
            }
        ),
    )
    url = local_server.url("/stats.json")
    collected = _collect(
        tmp_path,
        {
            "svc": [
                {"type": "json", "url": url, "value_path": "data[annee={year}].valeur", "unit": "uses", "name": "stats"}
            ],
            "svc-nested": [
                {
                    "type": "json",
                    "url": url,
                    "value_path": "cumul.usagers.depuis_lancement.total",
                    "unit": "users",
                    "year": 2025,
                    "name": "stats",
                }
            ],
        },
    )
    figures = sorted((o["startup_id"], o["period_start"].year, o["value"]) for o in collected.observations)
    assert figures == [("svc", 2023, 1234567.0), ("svc", 2024, 2345678.0), ("svc-nested", 2025, 9876543.0)]
    (run,) = [r for r in collected.runs if r.startup_id == "svc"]
    assert run.problems == ["data[annee=2025].valeur: 'n.c.' is not a non-negative number"]


def test_json_path_grammar():
    from impact_pipeline.defs.usage.observations import json_path

    doc = {"series": [{"meta": {"year": 2024}, "total": 7}], "a.b": {"c d": [1, 2, 3]}}
    assert json_path(doc, 'series[meta.year="2024"].total') == 7
    assert json_path(doc, "series[meta.year=2024.0].total") == 7  # numbers compare as numbers
    assert json_path(doc, '["a.b"][\'c d\'][-1]') == 3
    with pytest.raises(KeyError, match="no element with meta.year = 2023"):
        json_path(doc, "series[meta.year=2023].total")


# -- 14.4: a Metabase year column formatted as a number ---------------------------------------------------------


def test_metabase_year_column_formatted_with_a_thousands_separator_is_the_year(tmp_path, local_server):
    uuid = "0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6"
    # `/api/public/card/<uuid>/query/json`: a list of rows keyed by column display name; Metabase formats an integer
    # "Année" column with the viewer's grouping (space, no-break space, narrow no-break space).
    local_server.add(
        f"/api/public/card/{uuid}/query/json",
        Route(
            body=[
                {"Année": "2 021", "Usagers uniques": "312 450"},
                {"Année": "2\u00a0022", "Usagers uniques": "401 122"},
                {"Année": "2\u202f023", "Usagers uniques": "455 901"},
                {"Année": "2,024", "Usagers uniques": "1,020,334"},
            ]
        ),
    )
    question = local_server.url(f"/public/question/{uuid}")
    collected = _collect(
        tmp_path,
        {
            "svc": [
                {
                    "type": "metabase",
                    "question_url": question,
                    "date_column": "Année",
                    "value_column": "Usagers uniques",
                    "period": "year",
                    "unit": "users",
                    "evidence_url": EVIDENCE,
                }
            ]
        },
    )
    got = [(o["period_start"], o["period_end"], o["value"]) for o in collected.observations]
    assert got == [
        (date(2021, 1, 1), date(2021, 12, 31), 312450.0),
        (date(2022, 1, 1), date(2022, 12, 31), 401122.0),
        (date(2023, 1, 1), date(2023, 12, 31), 455901.0),
        (date(2024, 1, 1), date(2024, 12, 31), 1020334.0),
    ]
    (run,) = collected.runs
    assert (run.status, run.n_rejected) == ("ok", 0)


# -- 14.7: an impact CSV row with more fields than the header ---------------------------------------------------


def test_an_impact_csv_row_with_an_extra_field_is_reported_not_kept(tmp_path, local_server):
    header = HEADER + ",code_insee,dataviz_wish,commentaires"
    csv = (
        "\n".join(
            [
                header,
                "DINUM,Svc,Nombre de demandes,152300,unité,false,usage,annuelle,2023-12-31,true,2023-01-01,true,script,"
                ",barchart,",
                # An unquoted comma in the comment: one field more than the header.
                "DINUM,Svc,Nombre de demandes,990000,unité,false,usage,annuelle,2024-12-31,true,2024-01-01,true,script,"
                ",barchart,hausse, forte",
                "DINUM,Svc,Nombre de demandes,160000,unité,false,usage,annuelle,2025-12-31,true,2025-01-01,true,script,"
                ',barchart,"quoted, fine"',
            ]
        )
        + "\n"
    )
    local_server.add("/impact.csv", Route(body=csv, headers={"Content-Type": "text/csv"}))
    collected = _collect(
        tmp_path, {"svc": [{"type": "impact_csv", "url": local_server.url("/impact.csv"), "name": "f"}]}
    )
    assert sorted((o["period_end"].year, o["value"]) for o in collected.observations) == [
        (2023, 152300.0),
        (2025, 160000.0),
    ]
    (run,) = collected.runs
    assert (run.n_observations, run.n_rejected) == (2, 1)
    assert run.problems == ["line 3: 17 fields where the header has 16 (an unquoted ',' in a value?)"]
