"""The observatoire ingest against a local server with the documented shapes."""

from __future__ import annotations

import dagster as dg
import duckdb

from impact_pipeline.defs.quality.assets import observatoire_procedures, startup_observatoire
from impact_pipeline.defs.quality.observatoire import edition_year
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.support.http_server import Route

EDITIONS = [
    {
        "id": "e2",
        "name": "Édition juillet 2025",
        "start_date": "2025-01-01T00:00:00.000Z",
        "end_date": "2025-06-30T00:00:00.000Z",
    },
    {"id": "e1", "name": "Édition 2024", "start_date": None, "end_date": None},
    {"id": "e0", "name": "Édition sans date", "start_date": None, "end_date": None},
]


def _field(slug, value=None, color="green", label="x", **extra):
    return {"slug": slug, "label": label, "value": value, "color": color, **extra}


PROCEDURES = {
    "e2": [
        {
            "id": "p1",
            "title": "Rendez-vous",
            "volume": 1000,
            "fields": [
                _field("online", "https://www.service.example.fr/rdv"),
                _field("satisfaction", "8,6/10", goalReached=True),
                _field("handicap", "Conformité à 100%", goalReached=True),
                _field("dlnuf", "2", color="yellow", goalReached=False),
                _field("auth", "FranceConnect", color="blue"),  # no goalReached: read from the colour
                _field("simplicity", "À venir", color="gray", label="À venir"),
                _field("help_reachable", "0.9", goalReached=True),
            ],
        },
        {
            "id": "p2",
            "title": "Suivi",
            "volume": None,
            "fields": [
                _field("online", "https://service.example.fr/suivi"),
                _field("satisfaction", None, color="gray", label="Nombre d'avis insuffisant"),
                _field("help_reachable", "80 %", color="yellow"),
            ],
        },
        {
            "id": "p3",
            "title": "Override",
            "volume": "2 500",
            "fields": [_field("online", "https://forms.other.example/x")],
        },
        {
            "id": "p4",
            "title": "Ignored platform",
            "volume": 5,
            "fields": [_field("online", "https://platform.example/x")],
        },
        {"title": "no id"},
    ],
    "e1": [
        {
            "id": "p1",
            "title": "Rendez-vous",
            "volume": 700,
            "fields": [
                _field("online", "https://service.example.fr/rdv"),
                _field("satisfaction", "6.1", color="yellow"),
                _field("auth", None, color="gray", label="Non applicable"),
            ],
        },
    ],
}


def _serve(server, etag_prefix="v1"):
    def editions(request):
        if request.headers.get("If-None-Match") == f'"{etag_prefix}-editions"':
            return Route(status=304, headers={"ETag": f'"{etag_prefix}-editions"'})
        return Route(body=EDITIONS, headers={"ETag": f'"{etag_prefix}-editions"'})

    def procedures(request):
        edition = request.query["editionId"][0]
        tag = f'"{etag_prefix}-{edition}"'
        if request.headers.get("If-None-Match") == tag:
            return Route(status=304, headers={"ETag": tag})
        return Route(body=PROCEDURES.get(edition, []), headers={"ETag": tag})

    server.add("/api/editions", Route(handler=editions))
    server.add("/api/procedures", Route(handler=procedures))


def _materialize(quality, warehouse):
    result = dg.materialize(
        [observatoire_procedures, startup_observatoire], resources={"quality": quality, "warehouse": warehouse}
    )
    assert result.success
    return result


def test_editions_map_to_years_by_end_date_then_name():
    assert edition_year({"end_date": "2025-06-30T00:00:00.000Z", "name": "Édition 2026"}) == 2025
    assert edition_year({"end_date": None, "name": "Édition 2024"}) == 2024
    assert edition_year({"name": "Édition pilote"}) is None


def test_observatoire_ingest_joins_hosts_aggregates_and_refreshes_conditionally(
    local_server, warehouse_factory, tmp_path
):
    _serve(local_server)
    overrides = tmp_path / "hosts.yaml"
    overrides.write_text("hosts:\n  forms.other.example: svc-b\nignore_hosts: [platform.example]\n")
    warehouse = warehouse_factory(
        [
            {"startup_id": "svc-a", "link": "https://service.example.fr"},
            {"startup_id": "svc-b", "link": "https://b.example.fr"},
            {"startup_id": "svc-platform", "link": "https://platform.example"},
        ]
    )
    quality = QualitySources(
        observatoire_url=local_server.url("/").rstrip("/"),
        observatoire_hosts_path=str(overrides),
        http=HttpSettings(allow_private_network=True),
    )
    _materialize(quality, warehouse)
    first_requests = len(local_server.requests)
    assert first_requests == 3  # editions + the two editions with a year

    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    long = con.execute(
        "SELECT edition_id, procedure_id, indicator, value, value_numeric, goal_reached, placeholder, host "
        "FROM observatoire_procedures ORDER BY ALL"
    ).fetchall()
    by_key = {(e, p, i): (v, n, g, ph, h) for e, p, i, v, n, g, ph, h in long}
    assert by_key[("e2", "p1", "satisfaction")][1:3] == (8.6, True)
    assert by_key[("e2", "p1", "help_reachable")][1] == 90.0  # a fraction read as a percentage
    assert by_key[("e2", "p1", "auth")][2] is True  # blue without goalReached
    assert by_key[("e2", "p1", "simplicity")][1:4] == (None, None, True)  # placeholder: neither number nor failure
    assert by_key[("e2", "p2", "satisfaction")][2:4] == (None, True)
    assert by_key[("e2", "p1", "online")][4] == "service.example.fr"  # www. dropped
    assert not any(p == "None" or p is None for _, p, *_ in long)  # the démarche without id is skipped

    rows = con.execute(
        "SELECT startup_id, year, edition, procedure_ids, n_procedures, online_volume, goals_reached, goals_total, "
        "satisfaction_goal, handicap_goal, dlnuf_goal, auth_goal, simplicity_goal, help_reachable, matched_by "
        "FROM startup_observatoire ORDER BY startup_id, year"
    ).fetchall()
    con.close()
    a2024, a2025, b2025 = rows
    # one host, two démarches; the volume of the one without a volume is left out, not counted as zero
    assert a2025[:6] == ("svc-a", 2025, "Édition juillet 2025", ["p1", "p2"], 2, 1000)
    assert a2025[6:13] == (3, 4, True, True, False, True, None)
    assert a2025[13] == 80.0  # the lowest help reachability of the service's démarches
    assert a2024[:3] == ("svc-a", 2024, "Édition 2024") and a2024[6:8] == (0, 1)  # satisfaction missed, auth n/a
    assert b2025[0] == "svc-b" and b2025[5] == 2500 and b2025[14] == ["override"]
    assert all(r[0] != "svc-platform" for r in rows)  # ignored host

    # second run against unchanged sources: conditional requests only, all answered 304, same rows
    result = _materialize(quality, warehouse)
    second = local_server.requests[first_requests:]
    assert len(second) == 3 and all(r.headers.get("If-None-Match") for r in second)
    meta = result.asset_materializations_for_node("observatoire_procedures")[0].metadata
    assert meta["requests"].data["observatoire"]["not_modified"] == 3
    # Same bytes: the stored rows are kept, not parsed again; only their fetch time moves.
    assert meta["editions_parsed"].value == 0 and meta["editions_unchanged"].data == ["e1", "e2"]
    assert meta["dagster/row_count"].value == len(long)
    columns = "edition_id, procedure_id, indicator, value, value_numeric, goal_reached, placeholder, host"
    con = duckdb.connect(str(warehouse.working_path))
    assert con.execute(f"SELECT {columns} FROM observatoire_procedures ORDER BY ALL").fetchall() == long
    con.execute("UPDATE observatoire_procedures SET fetched_at = TIMESTAMP '2000-01-01'")  # to see it move
    # Rows that are no longer the ones parsed (a working file restored from an older publication) are parsed again.
    con.execute("DELETE FROM observatoire_procedures WHERE edition_id = 'e1' AND indicator = 'auth'")
    con.close()
    PROCEDURES["e2"][1]["volume"] = 55
    try:
        result = _materialize(quality, warehouse)
        _serve(local_server, etag_prefix="v2")  # e2 changed: new ETags everywhere
        changed = _materialize(quality, warehouse)
    finally:
        PROCEDURES["e2"][1]["volume"] = None
    meta = result.asset_materializations_for_node("observatoire_procedures")[0].metadata
    assert meta["editions_parsed"].value == 1 and meta["editions_unchanged"].data == ["e2"]  # e2 still answers 304
    meta = changed.asset_materializations_for_node("observatoire_procedures")[0].metadata
    assert meta["editions_parsed"].value == 1 and meta["editions_unchanged"].data == ["e1"]  # e1: same bytes again
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    assert con.execute("SELECT count(*) FROM observatoire_procedures").fetchall()[0][0] == len(long)
    assert con.execute("SELECT DISTINCT volume FROM observatoire_procedures WHERE procedure_id = 'p2'").fetchall() == [
        (55,)
    ]
    assert con.execute("SELECT min(fetched_at) FROM observatoire_procedures").fetchall()[0][0].year > 2000
    con.close()


def test_unavailable_observatoire_keeps_previous_rows_and_disabled_clears_them(local_server, warehouse_factory):
    _serve(local_server)
    warehouse = warehouse_factory([{"startup_id": "svc-a", "link": "https://service.example.fr"}])
    base = local_server.url("/").rstrip("/")
    _materialize(QualitySources(observatoire_url=base, http=HttpSettings(allow_private_network=True)), warehouse)
    local_server.add("/api/editions", Route(status=500, body="down"))
    _materialize(QualitySources(observatoire_url=base, http=HttpSettings(allow_private_network=True)), warehouse)
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    assert con.execute("SELECT count(*) FROM startup_observatoire").fetchall()[0][0] == 2
    con.close()
    _materialize(QualitySources(observatoire_url=""), warehouse)
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    assert con.execute("SELECT count(*) FROM observatoire_procedures").fetchall()[0][0] == 0
    con.close()


def test_a_demarche_host_shared_by_two_services_gives_its_volume_to_neither(local_server, warehouse_factory, tmp_path):
    from impact_pipeline.defs.criteria import CriteriaSettings
    from impact_pipeline.defs.usage.assets import yearly_reach
    from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

    # One edition: a démarche on a platform host that two services declare as their link, and one of a service alone.
    local_server.add(
        "/api/editions",
        Route(
            body=[
                {
                    "id": "e9",
                    "name": "Édition 2025",
                    "start_date": "2025-01-01",
                    "end_date": "2025-12-31",
                    "created_at": "2025-01-02",
                    "version": 3,
                }
            ]
        ),
    )
    local_server.add(
        "/api/procedures",
        Route(
            body=[
                {
                    "id": "d1",
                    "title": "Demande d'aide",
                    "ministere": "M",
                    "administration": "A",
                    "volume": "1 250 000",
                    "editionId": "e9",
                    "fields": [
                        _field("online", "https://www.demarches.example.gouv.fr/aide"),
                        _field("satisfaction", "8,2/10", goalReached=True),
                        _field("handicap", "100 %", goalReached=True),
                        _field("dlnuf", "0", goalReached=True),
                        _field("auth", "FranceConnect", color="blue"),
                    ],
                },
                {
                    "id": "d2",
                    "title": "Suivi du dossier",
                    "volume": 300000,
                    "editionId": "e9",
                    "fields": [
                        _field("online", "https://suivi.example.gouv.fr/"),
                        _field("satisfaction", "7/10", goalReached=False),
                    ],
                },
            ]
        ),
    )
    warehouse = warehouse_factory(
        [
            {"startup_id": "svc-one", "link": "https://demarches.example.gouv.fr"},
            {"startup_id": "svc-two", "link": "https://www.demarches.example.gouv.fr/"},
            {"startup_id": "svc-alone", "link": "https://suivi.example.gouv.fr"},
        ]
    )
    quality = QualitySources(
        observatoire_url=local_server.url("/").rstrip("/"), http=HttpSettings(allow_private_network=True)
    )
    _materialize(quality, warehouse)
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT startup_id, online_volume, n_procedures_with_volume, volume_note, goals_reached, goals_total "
            "FROM startup_observatoire WHERE year = 2025"
        ).fetchall()
    }
    con.close()
    for sid in ("svc-one", "svc-two"):
        volume, counted, note, goals, known = rows[sid]
        assert (volume, counted) == (None, 0)
        assert note == (
            "the volume of « Demande d'aide » (demarches.example.gouv.fr) is not counted: its host is shared "
            "by svc-one, svc-two, so it cannot be attributed to one service"
        )
        assert (goals, known) == (4, 4)  # the goals still apply to each of them
    assert rows["svc-alone"][:3] == (300000, 1, None)

    result = dg.materialize(
        [yearly_reach],
        resources={"warehouse": warehouse, "criteria": CriteriaSettings(path=str(DEFAULT_CRITERIA_PATH))},
    )
    assert result.success
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    reach = con.execute("SELECT startup_id, value, source FROM yearly_reach ORDER BY startup_id").fetchall()
    con.close()
    assert reach == [("svc-alone", 300000.0, "observatoire")]
