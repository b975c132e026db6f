"""Every usage adapter against a real HTTP server on 127.0.0.1, serving the sources' documented shapes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.support.http_server import LocalServer, Route

TODAY = date(2026, 3, 15)
STARTUPS = {
    "svc-matomo": "Service Matomo",
    "svc-card": "Service Carte",
    "svc-csv": "Service CSV",
    "svc-json": "Service JSON",
    "svc-down": "Service En Panne",
    "trackdechets": "Trackdéchets",
}


def _resource(tmp_path: Path, services: dict, **kwargs) -> UsageSources:
    import yaml

    path = tmp_path / "usage_sources.yaml"
    path.write_text(
        yaml.safe_dump({"first_year": 2022, "services": services, **kwargs.pop("extra", {})}), encoding="utf-8"
    )
    kwargs.setdefault("http", HttpSettings(allow_private_network=True))
    return UsageSources(sources_path=str(path), **kwargs)


def _rows(collected, startup_id, **match):
    return [
        o for o in collected.observations if o["startup_id"] == startup_id and all(o[k] == v for k, v in match.items())
    ]


def _status(collected, startup_id):
    return {(r.source, r.status) for r in collected.runs if r.startup_id == startup_id}


def test_matomo_multi_year_answer_with_token_in_the_post_body(tmp_path, local_server):
    years = {
        "2022": [],
        "2023": {"nb_visits": 42000, "nb_actions": 90000},
        "2024": {"nb_visits": 250000, "nb_uniq_visitors": 180000},
        "2025": {"nb_visits": 260000},
        "2026": {"nb_visits": 9000},
    }
    local_server.add("/index.php", Route(body=years))
    base = local_server.url("/")
    usage = _resource(
        tmp_path,
        {"svc-matomo": [{"type": "matomo", "base_url": base, "site_id": 12}]},
        matomo_tokens={"IMPACT_MATOMO_TOKEN_127_0_0_1": "s3cret"},
    )
    collected = usage.collect(STARTUPS, today=TODAY)

    request = local_server.requests_to("/index.php")[0]
    assert request.method == "POST"
    assert parse_qs(request.body.decode()) == {"token_auth": ["s3cret"]}
    assert "token_auth" not in request.query
    assert request.query["method"] == ["VisitsSummary.get"] and request.query["period"] == ["year"]
    assert request.query["idSite"] == ["12"] and request.query["date"] == ["2022-01-01,2026-03-15"]
    visits = {
        o["period_start"].year: (o["value"], o["period_end"])
        for o in _rows(collected, "svc-matomo", indicator="nb_visits")
    }
    assert visits == {
        2023: (42000.0, date(2023, 12, 31)),
        2024: (250000.0, date(2024, 12, 31)),
        2025: (260000.0, date(2025, 12, 31)),
        2026: (9000.0, TODAY),
    }  # the running year ends today
    uniques = _rows(collected, "svc-matomo", indicator="nb_uniq_visitors")
    assert [(o["value"], o["unit"]) for o in uniques] == [(180000.0, "visitors")]
    run = next(r for r in collected.runs if r.startup_id == "svc-matomo")
    assert (run.status, run.n_observations, run.source_ref) == (
        "ok",
        5,
        f"127.0.0.1:{int(base.split(':')[2].strip('/'))} site 12",
    )
    # With a token the dashboard is not public: no evidence URL unless configured.
    assert {o["evidence_url"] for o in uniques} == {None}
    assert "s3cret" not in json.dumps(collected.stats) + repr([r.row() for r in collected.runs])


def test_matomo_anonymous_by_default_and_error_body_with_http_200(tmp_path, local_server):
    local_server.add("/ok/index.php", Route(body={"2024": {"nb_visits": 1234}}))
    local_server.add(
        "/refused/index.php",
        Route(
            body={
                "result": "error",
                "message": "You can't access this resource as it requires 'view' access for the website id = 7.",
            }
        ),
    )
    usage = _resource(
        tmp_path,
        {
            "svc-matomo": [{"type": "matomo", "base_url": local_server.url("/ok"), "site_id": 3}],
            "svc-down": [{"type": "matomo", "base_url": local_server.url("/refused"), "site_id": 7}],
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    assert parse_qs(local_server.requests_to("/ok/index.php")[0].body.decode()) == {"token_auth": ["anonymous"]}
    (obs,) = _rows(collected, "svc-matomo")
    # Anonymous instances have a public dashboard: it is the evidence.
    assert (
        obs["evidence_url"]
        == local_server.url("/ok/index.php") + "?module=CoreHome&action=index&idSite=3&period=year&date=2024-12-31"
    )
    (down,) = [r for r in collected.runs if r.startup_id == "svc-down"]
    assert down.status == "error"
    assert "Matomo error: You can't access this resource" in down.error
    assert _rows(collected, "svc-down") == []


def test_matomo_monthly_uniques_are_read_per_month(tmp_path, local_server):
    def answer(request):
        if request.query["period"] == ["month"]:
            return Route(
                body={f"2024-{m:02d}": {"nb_uniq_visitors": 1000 * m, "nb_visits": 1500 * m} for m in range(1, 13)}
            )
        return Route(body={"2024": {"nb_visits": 117000}})

    local_server.add("/index.php", Route(handler=answer))
    usage = _resource(
        tmp_path,
        {
            "svc-matomo": [
                {
                    "type": "matomo",
                    "base_url": local_server.url("/"),
                    "site_id": 1,
                    "monthly_uniques": True,
                    "evidence_url": "https://svc.example.org/stats",
                }
            ]
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    months = _rows(collected, "svc-matomo", indicator="nb_uniq_visitors")
    assert len(months) == 12 and sum(o["value"] for o in months) == 78000
    assert months[1]["period_start"] == date(2024, 2, 1) and months[1]["period_end"] == date(2024, 2, 29)
    assert {o["evidence_url"] for o in months} == {"https://svc.example.org/stats"}
    assert len([r for r in collected.runs if r.startup_id == "svc-matomo"]) == 1  # one status per source


def test_metabase_card_with_formatted_numbers_after_a_429(tmp_path, local_server):
    uuid = "5f0c3b2a-8d4e-4c1a-9b7e-2a6d1e0f4c11"
    rows = [
        {"Mois": "2024-01-01T00:00:00Z", "Utilisateurs": "1 234", "Taux": "12 %"},
        {"Mois": "February, 2024", "Utilisateurs": "12\u202f345", "Taux": "11 %"},
        {"Mois": "mars 2024", "Utilisateurs": 2000.5, "Taux": "10 %"},
        {"Mois": "2024-04", "Utilisateurs": "1,234,567", "Taux": "9 %"},
        {"Mois": "avril?", "Utilisateurs": "3 000", "Taux": "9 %"},
        {"Mois": "2024-05", "Utilisateurs": "n/a", "Taux": "9 %"},
    ]
    local_server.add(
        f"/api/public/card/{uuid}/query/json",
        [
            Route(status=429, body=b"slow down", headers={"Retry-After": "1"}),
            Route(body=rows),
        ],
    )
    question = local_server.url(f"/public/question/{uuid}")
    usage = _resource(
        tmp_path,
        {
            "svc-card": [
                {
                    "type": "metabase",
                    "question_url": question,
                    "date_column": "Mois",
                    "value_column": "Utilisateurs",
                    "period": "month",
                    "unit": "users",
                }
            ]
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    assert len(local_server.requests_to(f"/api/public/card/{uuid}/query/json")) == 2
    got = [(o["period_start"], o["period_end"], o["value"]) for o in _rows(collected, "svc-card")]
    assert got == [
        (date(2024, 1, 1), date(2024, 1, 31), 1234.0),
        (date(2024, 2, 1), date(2024, 2, 29), 12345.0),
        (date(2024, 3, 1), date(2024, 3, 31), 2000.5),
        (date(2024, 4, 1), date(2024, 4, 30), 1234567.0),
    ]
    (run,) = [r for r in collected.runs if r.startup_id == "svc-card"]
    assert (run.status, run.n_observations, run.n_rejected) == ("ok", 4, 2)
    assert run.problems == ["row 5: Mois 'avril?' is not a date", "row 6: Utilisateurs 'n/a' is not a number"]
    assert {o["evidence_url"] for o in _rows(collected, "svc-card")} == {question}


IMPACT_CSV = (
    "administration_rattachement,nom_service_public_numerique,indicateur,valeur,unite_mesure,est_cible,"
    "type_indicateur,frequence_monitoring,date,est_periode,date_debut,est_automatise,source_collecte,code_insee,"
    "dataviz_wish,commentaires\n"
    "DINUM,Service CSV,Nombre d'utilisateurs,152300,unité,false,usage,annuelle,2024-12-31,true,2024-01-01,true,"
    "script,,barchart,\n"
    "DINUM,Service CSV,Nombre de demandes,120000,unité,false,usage,annuelle,2024-06-30,true,2023-07-01,true,script,,"
    "barchart,juillet à juin\n"
    "DINUM,Service CSV,Nombre d'utilisateurs,500000,unité,true,usage,annuelle,2025-12-31,true,2025-01-01,false,"
    "objectif,,barchart,cible\n"
    "DINUM,Service CSV,Nombre d'utilisateurs inscrits,900000,unité,false,usage,mensuelle,2025-06-30,false,,true,"
    "script,,linechart,stock\n"
    "DINUM,Service CSV,Taux de satisfaction,87,%,false,impact,mensuelle,2024-12-31,true,2024-01-01,true,enquête,,"
    "piechart,\n"
    "DINUM,Service CSV,Nombre d'utilisateurs,beaucoup,unité,false,usage,annuelle,2021-12-31,true,2021-01-01,true,"
    "script,,barchart,\n"
    "DINUM,Service CSV,Nombre de visites,4000,unité,false,usage,souvent,2021-12-31,true,2021-01-01,true,script,,"
    "barchart,\n"
    "DINUM,Autre service,Nombre d'utilisateurs,7,unité,false,usage,annuelle,2024-12-31,true,2024-01-01,true,script,,"
    "barchart,\n"
)


def test_impact_csv_targets_stocks_periods_and_a_malformed_row(tmp_path, local_server):
    local_server.add("/statistiques_impact_service.csv", Route(body=IMPACT_CSV, headers={"Content-Type": "text/csv"}))
    url = local_server.url("/statistiques_impact_service.csv")
    usage = _resource(
        tmp_path,
        {
            "svc-csv": [
                {
                    "type": "impact_csv",
                    "url": url,
                    "service_name": "service csv",
                    "evidence_url": "https://svc.example.org/stats",
                }
            ]
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    rows = {(o["indicator"], o["period_end"]): o for o in _rows(collected, "svc-csv")}
    assert len(rows) == 5  # 8 lines: one other service, two malformed
    users = rows[("Nombre d'utilisateurs", date(2024, 12, 31))]
    assert (users["value"], users["unit"], users["is_target"], users["is_stock"], users["type_indicateur"]) == (
        152300.0,
        "users",
        False,
        False,
        "usage",
    )
    spanning = rows[("Nombre de demandes", date(2024, 6, 30))]
    assert (spanning["period_start"], spanning["unit"]) == (date(2023, 7, 1), "uses")
    target = rows[("Nombre d'utilisateurs", date(2025, 12, 31))]
    assert target["is_target"] is True
    stock = rows[("Nombre d'utilisateurs inscrits", date(2025, 6, 30))]
    assert (stock["is_stock"], stock["period_start"]) == (True, None)
    assert rows[("Taux de satisfaction", date(2024, 12, 31))]["unit"] == "percent"
    (run,) = [r for r in collected.runs if r.startup_id == "svc-csv"]
    assert (run.status, run.n_observations, run.n_rejected) == ("ok", 5, 2)
    assert run.problems == [
        "line 7: valeur 'beaucoup' is not a number",
        "line 8: frequence_monitoring 'souvent' is not one of "
        "quotidienne, hebdomadaire, mensuelle, annuelle, trimestrielle, semestrielle, autre",
    ]
    assert run.source_ref == url


def test_json_stats_file_with_a_year_in_the_path(tmp_path, local_server):
    local_server.add(
        "/stats.json",
        Route(
            body={
                "annees": {
                    "2023": {"demarches": "12 400"},
                    "2024": {"demarches": 85000},
                    "2025": {"demarches": "beaucoup"},
                }
            }
        ),
    )
    usage = _resource(
        tmp_path,
        {
            "svc-json": [
                {
                    "type": "json",
                    "url": local_server.url("/stats.json"),
                    "value_path": 'annees["{year}"].demarches',
                    "unit": "uses",
                }
            ]
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    assert [(o["period_start"].year, o["value"], o["unit"]) for o in _rows(collected, "svc-json")] == [
        (2023, 12400.0, "uses"),
        (2024, 85000.0, "uses"),
    ]
    (run,) = [r for r in collected.runs if r.startup_id == "svc-json"]
    assert run.problems == ["annees[\"2025\"].demarches: 'beaucoup' is not a non-negative number"]
    assert {o["evidence_url"] for o in _rows(collected, "svc-json")} == {local_server.url("/stats.json")}


def test_declared_figures_file(tmp_path):
    declared = tmp_path / "declared.csv"
    declared.write_text(
        "startup_id,year,value,unit,evidence_url,declared_by,declared_on,note\n"
        "svc-json,2024,250000,users,https://svc.example.org/bilan,Équipe X,2025-01-10,\n"
        "svc-json,2023,-3,users,,Équipe X,,\n"
        "inconnu,2024,10,users,,Équipe Y,,\n",
        encoding="utf-8",
    )
    usage = UsageSources(declared_figures_path=str(declared))
    collected = usage.collect(STARTUPS, today=TODAY)
    (obs,) = collected.observations
    assert (obs["startup_id"], obs["source"], obs["source_ref"], obs["value"], obs["unit"], obs["evidence_url"]) == (
        "svc-json",
        "declared",
        "Équipe X",
        250000.0,
        "users",
        "https://svc.example.org/bilan",
    )
    file_run = next(r for r in collected.runs if r.startup_id is None)
    assert file_run.n_rejected == 2
    assert file_run.problems == [
        "line 3: value '-3' is not a non-negative number",
        "line 4: startup_id 'inconnu' is not in the registry",
    ]


def test_a_source_down_is_an_outcome_and_the_others_are_read(tmp_path, local_server):
    local_server.add("/broken/index.php", Route(status=500, body=b"oops"))
    local_server.add("/stats.json", Route(body={"total": 5}))
    with LocalServer() as gone:
        dead = gone.url("/index.php")
    usage = _resource(
        tmp_path,
        {
            "svc-down": [{"type": "matomo", "base_url": dead.rsplit("/", 1)[0], "site_id": 1}],
            "svc-matomo": [{"type": "matomo", "base_url": local_server.url("/broken"), "site_id": 2}],
            "svc-json": [
                {
                    "type": "json",
                    "url": local_server.url("/stats.json"),
                    "value_path": "total",
                    "year": 2024,
                    "unit": "uses",
                }
            ],
        },
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    errors = {r.startup_id: r.error for r in collected.runs if r.status == "error"}
    assert set(errors) == {"svc-down", "svc-matomo"}
    assert errors["svc-down"].endswith("connection refused")
    assert "HTTP 500 Internal Server Error after 3 retries" in errors["svc-matomo"]
    assert [o["value"] for o in _rows(collected, "svc-json")] == [5.0]
    assert collected.stats["matomo"]["errors"] == 2


def test_conditional_refresh_reuses_the_cached_body(tmp_path, local_server):
    def answer(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, headers={"ETag": '"v1"'})
        return Route(body={"total": 7}, headers={"ETag": '"v1"'})

    local_server.add("/stats.json", Route(handler=answer))
    usage = _resource(
        tmp_path,
        {
            "svc-json": [
                {
                    "type": "json",
                    "url": local_server.url("/stats.json"),
                    "value_path": "total",
                    "year": 2024,
                    "unit": "uses",
                }
            ]
        },
    )
    first = usage.collect(STARTUPS, cache_dir=tmp_path / "cache", today=TODAY)
    second = usage.collect(STARTUPS, cache_dir=tmp_path / "cache", today=TODAY)
    assert [o["value"] for o in second.observations] == [o["value"] for o in first.observations] == [7.0]
    assert second.stats["json"]["not_modified"] == 1


def test_datagouv_discovery_by_schema(tmp_path, local_server):
    csv_url = local_server.url("/resources/statistiques_impact_trackdechets.csv")
    other_url = local_server.url("/resources/statistiques_impact_inconnu.csv")
    page2 = local_server.url("/api/1/datasets/page2")
    local_server.add(
        "/api/1/datasets/",
        Route(
            body={
                "data": [
                    {
                        "id": "ds1",
                        "title": "Impact de Trackdéchets",
                        "page": "https://www.data.gouv.fr/fr/datasets/impact-trackdechets/",
                        "resources": [
                            {
                                "id": "r1",
                                "url": csv_url,
                                "format": "csv",
                                "schema": {"name": "etalab/schema-impact-service-public-numerique", "version": "0.5.0"},
                            },
                            {
                                "id": "r0",
                                "url": local_server.url("/resources/notice.pdf"),
                                "format": "pdf",
                                "schema": {},
                            },
                        ],
                    }
                ],
                "next_page": page2,
                "page": 1,
                "page_size": 1,
                "total": 2,
            }
        ),
    )
    local_server.add(
        "/api/1/datasets/page2",
        Route(
            body={
                "data": [
                    {
                        "id": "ds2",
                        "title": "Impact d'un inconnu",
                        "page": "https://www.data.gouv.fr/fr/datasets/inconnu/",
                        "resources": [{"id": "r2", "url": other_url, "format": "csv", "schema": None}],
                    },
                    {
                        "id": "ds3",
                        "title": "Fichier local",
                        "page": "https://www.data.gouv.fr/fr/datasets/x/",
                        "resources": [{"id": "r3", "url": "/etc/passwd", "format": "csv"}],
                    },
                ],
                "next_page": None,
                "page": 2,
                "page_size": 1,
                "total": 2,
            }
        ),
    )
    local_server.add(
        "/resources/statistiques_impact_trackdechets.csv", Route(body=IMPACT_CSV.replace("Service CSV", "TRACKDECHETS"))
    )
    local_server.add("/resources/statistiques_impact_inconnu.csv", Route(body=IMPACT_CSV))
    usage = UsageSources(
        datagouv_url=local_server.url("/api/1/datasets/?schema=etalab/schema-impact-service-public-numerique"),
        http=HttpSettings(allow_private_network=True),
    )
    collected = usage.collect(STARTUPS, today=TODAY)
    rows = _rows(collected, "trackdechets")
    assert len(rows) == 5
    assert {o["source_ref"] for o in rows} == {"data.gouv.fr dataset ds1 resource r1"}
    assert {o["evidence_url"] for o in rows} == {"https://www.data.gouv.fr/fr/datasets/impact-trackdechets/"}
    assert local_server.requests_to("/resources/notice.pdf") == []
    unmatched = [r for r in collected.runs if r.startup_id is None and "ds2" in r.source_ref]
    assert unmatched[0].problems[0] == "service 'Autre service' matches no startup (add an alias)"
    assert unmatched[0].n_rejected == 2  # the malformed lines, reported
    # A service named like a registry startup (accents and case aside) gets the rows.
    assert {o["source_ref"] for o in _rows(collected, "svc-csv")} == {"data.gouv.fr dataset ds2 resource r2"}
    assert "/etc/passwd" not in repr([r.row() for r in collected.runs])


def test_sources_file_errors_name_the_entry(tmp_path):
    from impact_pipeline.defs.usage.sources_config import SourcesConfigError

    usage = _resource(
        tmp_path,
        {
            "svc-card": [
                {
                    "type": "metabase",
                    "question_url": "https://mb.example.org/public/question/x",
                    "value_column": "v",
                    "unit": "people",
                }
            ]
        },
    )
    with pytest.raises(SourcesConfigError, match=r"services.svc-card\[0\]: a metabase source needs date_column"):
        usage.load_config()


def test_configured_sources_and_datagouv_discovery_are_fetched_side_by_side(tmp_path):
    from impact_pipeline_tests.support.in_flight import InFlight

    flight = InFlight(delay=0.2)
    with LocalServer() as stats, LocalServer() as datagouv:
        for i in range(4):
            stats.add(f"/s{i}.json", flight.route("stats", {"total": i}))
        datagouv.add(
            "/api/1/datasets/",
            flight.route(
                "datagouv",
                {
                    "data": [
                        {
                            "id": f"ds{i}",
                            "title": f"Impact {i}",
                            "page": f"https://www.data.gouv.fr/fr/datasets/d{i}/",
                            "resources": [
                                {
                                    "id": f"r{i}",
                                    "url": datagouv.url(f"/r{i}.csv"),
                                    "format": "csv",
                                    "schema": {"name": "etalab/schema-impact-service-public-numerique"},
                                }
                            ],
                        }
                        for i in range(2)
                    ],
                    "next_page": None,
                },
            ),
        )
        for i in range(2):
            datagouv.add(f"/r{i}.csv", flight.route("datagouv", IMPACT_CSV.replace("Service CSV", "TRACKDECHETS")))
        usage = _resource(
            tmp_path,
            {
                "svc-json": [
                    {
                        "type": "json",
                        "url": stats.url(f"/s{i}.json"),
                        "value_path": "total",
                        "year": 2020 + i,
                        "unit": "uses",
                    }
                    for i in range(4)
                ]
            },
            datagouv_url=datagouv.url("/api/1/datasets/"),
            http=HttpSettings(allow_private_network=True, concurrency=3, per_host=2),
        )
        collected = usage.collect(STARTUPS, today=TODAY)
    # Both sets were in flight at once, within the limits they share (3 in total, 2 per host).
    assert frozenset({"stats", "datagouv"}) in flight.together
    assert flight.peak_total <= 3 and max(flight.peak_host.values()) == 2
    # Nothing lost, and the same order as one after the other: configured sources, then the discovered datasets.
    assert sorted(o["value"] for o in _rows(collected, "svc-json")) == [0.0, 1.0, 2.0, 3.0]
    assert {o["source_ref"] for o in _rows(collected, "trackdechets")} == {
        "data.gouv.fr dataset ds0 resource r0",
        "data.gouv.fr dataset ds1 resource r1",
    }
    sources = [o["source"] for o in collected.observations]
    assert sources == sorted(sources, key=lambda s: s != "json") and "impact_dataset" in sources
    assert collected.stats["json"]["requests"] == 4 and collected.stats["datagouv"]["requests"] == 3
