"""Discovery reads stats URLs and pages (public http(s) only), reads each source it recognises once, uses the
unambiguous ones as discovered sources and proposes the rest; the review loop (accept, reject, check) edits the
reviewed sources file."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from impact_pipeline.defs.usage.discovery import Proposal, find_sources, from_stats_url, plan_card, proposal_id
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.support.http_server import Route

PAGE = (
    "<html><body>\n"
    '<iframe src="https://mb.example.org/metabase/public/question/0B7D6C1E-3f2a-4e55-8c9d-1a2b3c4d5e6f"></iframe>\n'
    '<iframe src="/public/dashboard/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d#bordered=false"></iframe>\n'
    '<a href="https://stats.example.org/index.php?module=Widgetize&amp;action=iframe&amp;idSite=11&amp;'
    'period=month">visites</a>\n'
    "<script>var u=\"//stats.other.example.org/\"; _paq.push(['setTrackerUrl', u+'matomo.php']); "
    "_paq.push(['setSiteId', '42']);</script>\n"
    "</body></html>"
)


def local_page(server) -> str:
    """PAGE with its hosts on the test server (the trial reads then get a quick 404, never a DNS lookup)."""
    base = server.url("/").rstrip("/")
    return (
        PAGE.replace("https://mb.example.org", base)
        .replace("https://stats.example.org", base)
        .replace("//stats.other.example.org", base.split(":", 1)[1] + "/other")
    )


TODAY = date(2026, 3, 1)
UUID_USERS = "11111111-2222-4333-8444-555555555555"
UUID_TWO = "66666666-7777-4888-9999-aaaaaaaaaaaa"
UUID_DASH = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
# Matomo VisitsSummary.get, period=year over a date range: one object per year, `[]` for a year without data.
MATOMO_YEARS = {
    "2022": [],
    "2023": {"nb_visits": 150000, "nb_actions": 420000},
    "2024": {"nb_visits": 90000, "nb_actions": 250000},
    "2025": {"nb_visits": 210000, "nb_actions": 600000},
    "2026": {"nb_visits": 30000, "nb_actions": 80000},
}
MATOMO_DENIED = {
    "result": "error",
    "message": "You can't access this resource as it requires 'view' access for the website id = 9.",
}
# A Metabase card's /query/json: rows keyed by column display name, numbers as formatted strings.
CARD_USERS = [{"Année": 2024, "Nombre d'usagers": "120 500"}, {"Année": 2025, "Nombre d'usagers": "98 000"}]
CARD_TWO = [
    {"Mois": "janvier 2025", "Utilisateurs": "10 000", "Visites": "25 000"},
    {"Mois": "février 2025", "Utilisateurs": "11 000", "Visites": "26 000"},
]
# A public dashboard: its cards (one text card without a question), and one card's data as Metabase's dataset.
DASHBOARD = {
    "id": 3,
    "name": "Statistiques",
    "dashcards": [
        {"id": 7, "card_id": 21, "card": {"id": 21, "name": "Démarches déposées par an", "display": "bar"}},
        {"id": 8, "card_id": None, "card": {"id": None, "display": "text"}},
    ],
}
DASHCARD = {
    "data": {
        "cols": [
            {"name": "annee", "display_name": "Année", "base_type": "type/Integer"},
            {"name": "n", "display_name": "Démarches déposées", "base_type": "type/Integer"},
        ],
        "rows": [[2024, 180000], [2025, 240000]],
    },
    "row_count": 2,
    "status": "completed",
}


def test_find_sources_in_a_page():
    assert find_sources(PAGE, "https://svc.example.org/stats") == [
        Proposal("metabase_question", "https://mb.example.org/metabase", "0b7d6c1e-3f2a-4e55-8c9d-1a2b3c4d5e6f"),
        Proposal("metabase_dashboard", "https://svc.example.org", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
        Proposal("matomo", "https://stats.example.org", "11"),
        Proposal("matomo", "https://stats.other.example.org", "42"),
    ]


def test_the_stats_url_itself_names_a_matomo_site_or_a_metabase_dashboard():
    assert from_stats_url(
        "https://stats.example.org/index.php?module=CoreHome&action=index&idSite=12&period=day&date=yesterday#?x=1"
    ) == [Proposal("matomo", "https://stats.example.org", "12")]
    assert from_stats_url(f"https://mb.example.org/public/dashboard/{UUID_DASH.upper()}#titled=false") == [
        Proposal("metabase_dashboard", "https://mb.example.org", UUID_DASH)
    ]
    # Not a Matomo UI (the API, or another module) and not a Metabase URL: the page is read instead.
    assert from_stats_url("https://stats.example.org/index.php?module=API&idSite=12") == []
    assert from_stats_url("https://svc.example.org/stats") == []


def test_card_columns_are_recognised_only_when_unambiguous():
    plan = plan_card(CARD_USERS)
    assert (plan.date_column, plan.value_column, plan.unit, plan.period, plan.ambiguity) == (
        "Année",
        "Nombre d'usagers",
        "users",
        "year",
        None,
    )
    assert plan_card(CARD_TWO).ambiguity == "2 numeric columns (Utilisateurs, Visites)"
    assert plan_card([{"Mois": "2025-01", "Taux de satisfaction": "81 %"}]).ambiguity == (
        "the name of column 'Taux de satisfaction' does not say what it counts"
    )
    assert plan_card([{"Mois": "2025-01", "Visites": 3}]).period == "month"


def _serve_world(server):
    """Stats pages of six services and the sources they reference, shaped like the live answers."""
    base = server.url("/").rstrip("/")
    html = {"Content-Type": "text/html"}

    def matomo(request):
        if request.query.get("module") != ["API"]:
            return Route(body="<html>Matomo UI</html>", headers=html)
        return Route(body=MATOMO_YEARS)

    server.add("/open/index.php", Route(handler=matomo))
    server.add("/closed/index.php", Route(body=MATOMO_DENIED))  # errors come with HTTP 200
    server.add(
        "/tracker/stats",
        Route(
            body=(
                "<script>var _paq = window._paq || []; (function() { var u=\"" + base + "/open/\";"
                " _paq.push(['setTrackerUrl', u+'matomo.php']); _paq.push(['setSiteId', '5']); })();</script>"
            ),
            headers=html,
        ),
    )
    server.add(
        "/link/stats",
        Route(
            body=(
                f'<a href="{base}/closed/index.php?module=CoreHome&amp;action=index&amp;idSite=9&amp;period=year">'
                "Tableau de bord</a>"
            ),
            headers=html,
        ),
    )
    server.add(
        "/cards/stats",
        Route(
            body=(
                f'<iframe src="{base}/public/question/{UUID_USERS}"></iframe>'
                f'<iframe src="{base}/public/question/{UUID_TWO}"></iframe>'
            ),
            headers=html,
        ),
    )
    server.add(f"/api/public/card/{UUID_USERS}/query/json", Route(body=CARD_USERS))
    server.add(f"/api/public/card/{UUID_TWO}/query/json", Route(body=CARD_TWO))
    server.add("/dash/stats", Route(body=f'<a href="/public/dashboard/{UUID_DASH}">nos chiffres</a>', headers=html))
    server.add(f"/api/public/dashboard/{UUID_DASH}", Route(body=DASHBOARD))
    server.add(f"/api/public/dashboard/{UUID_DASH}/dashcard/7/card/21", Route(body=DASHCARD))
    server.add(
        "/plain/stats", Route(body="<html><p>Nous publions nos statistiques chaque trimestre.</p></html>", headers=html)
    )
    return [
        ("svc-tracker", server.url("/tracker/stats")),
        ("svc-link", server.url("/link/stats")),
        ("svc-cards", server.url("/cards/stats")),
        ("svc-dash", server.url("/dash/stats")),
        ("svc-plain", server.url("/plain/stats")),
        # The stats URL is the source itself: the Matomo UI, a Metabase public dashboard.
        ("svc-ui", server.url("/open/index.php?module=CoreHome&action=index&idSite=5&period=day&date=yesterday")),
        ("svc-board", server.url(f"/public/dashboard/{UUID_DASH}")),
    ]


def _by(rows):
    return {(r["startup_id"], r["kind"]): r for r in rows}


def test_unambiguous_sources_are_read_and_the_others_stay_proposals_with_a_preview(tmp_path, local_server):
    pages = _serve_world(local_server)
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text("services: {}\n", encoding="utf-8")
    # An operator's token for this host is never used for a discovered site: it must answer anyone.
    host = local_server.url("/").split("//")[1].split(":")[0]
    usage = UsageSources(
        sources_path=str(sources),
        discovery=True,
        http=HttpSettings(allow_private_network=True),
        matomo_tokens={f"IMPACT_MATOMO_TOKEN_{host.replace('.', '_')}": "secret"},
    )
    found = usage.discover(pages, today=TODAY)
    rows = _by(found.rows)
    status = sorted((r["startup_id"], r["kind"], r["identifier"], r["status"]) for r in found.rows)
    assert status == sorted(
        [
            ("svc-board", "metabase_dashboard", UUID_DASH, "proposed"),
            ("svc-board", "metabase_dashboard_card", f"{UUID_DASH}/7/21", "in_use"),
            ("svc-cards", "metabase_question", UUID_TWO, "proposed"),
            ("svc-cards", "metabase_question", UUID_USERS, "in_use"),
            ("svc-dash", "metabase_dashboard", UUID_DASH, "proposed"),
            ("svc-dash", "metabase_dashboard_card", f"{UUID_DASH}/7/21", "in_use"),
            ("svc-link", "matomo", "9", "proposed"),
            ("svc-tracker", "matomo", "5", "in_use"),
            ("svc-ui", "matomo", "5", "in_use"),
        ]
    )
    two = next(r for r in found.rows if r["identifier"] == UUID_TWO)
    assert two["reason"] == "ambiguous: 2 numeric columns (Utilisateurs, Visites)"
    assert two["preview"] == (
        "Utilisateurs → 2025: at most 21,000 users (2025-01-01→2025-02-28, part of the year) | "
        "Visites → 2025: at least 51,000 visits (2025-01-01→2025-02-28, part of the year)"
    )
    assert (
        rows[("svc-link", "matomo")]["reason"].startswith("cannot be read: ")
        and "requires 'view' access" in rows[("svc-link", "matomo")]["reason"]
    )
    assert rows[("svc-tracker", "matomo")]["preview"] == (
        "2023: 150,000 visits; 2024: 90,000 visits; 2025: 210,000 visits; 2026: at least 30,000 visits "
        "(2026-01-01→2026-03-01, part of the year)"
    )
    assert (
        next(r for r in found.rows if r["identifier"] == UUID_USERS)["preview"]
        == "2024: 120,500 users; 2025: 98,000 users"
    )
    assert rows[("svc-board", "metabase_dashboard_card")]["name"] == "Démarches déposées par an"
    # The Matomo UI and the dashboard given as stats URLs were recognised before reading: their pages were never asked.
    assert not any(r.query.get("module") == ["CoreHome"] for r in local_server.requests_to("/open/index.php"))
    assert local_server.requests_to(f"/public/dashboard/{UUID_DASH}") == []
    assert {r.body for r in local_server.requests_to("/open/index.php")} == {b"token_auth=anonymous"}

    # The discovered sources' figures: evidence is the stats page, and they say they were not reviewed.
    obs = [o for o in found.observations if o["startup_id"] == "svc-tracker" and o["indicator"] == "nb_visits"]
    page = local_server.url("/tracker/stats")
    assert {(o["evidence_url"], o["discovered_on"]) for o in obs} == {(page, page)}
    assert obs[0]["source_ref"].endswith(f"site 5, discovered on {page}, not reviewed")
    assert {o["startup_id"] for o in found.observations} == {
        "svc-tracker",
        "svc-ui",
        "svc-cards",
        "svc-dash",
        "svc-board",
    }
    assert all(o["startup_id"] != "svc-cards" or o["indicator"] == "Nombre d'usagers" for o in found.observations)
    assert {r.discovered_on for r in found.runs} >= {page}


IMPACT_CSV = (
    "administration_rattachement,nom_service_public_numerique,indicateur,valeur,unite_mesure,est_cible,"
    "type_indicateur,frequence_monitoring,date,est_periode,date_debut,est_automatise,source_collecte\n"
    'DINUM,Mon service,Nombre d\'utilisateurs,"130000",unité,false,usage,annuelle,2024-12-31,true,2024-01-01,true,'
    "script\n"
    "DINUM,Mon service,Nombre d'utilisateurs,500000,unité,true,usage,annuelle,2025-12-31,true,2025-01-01,false,"
    "objectif\n"
)


def test_an_impact_dataset_linked_from_the_page_is_read_as_a_discovered_source(tmp_path, local_server):
    local_server.add(
        "/stats",
        Route(
            body='<a href="/files/statistiques_impact_mon_service.csv">nos indicateurs</a>',
            headers={"Content-Type": "text/html"},
        ),
    )
    local_server.add(
        "/files/statistiques_impact_mon_service.csv", Route(body=IMPACT_CSV, headers={"Content-Type": "text/csv"})
    )
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text("services: {}\n", encoding="utf-8")
    found = UsageSources(
        sources_path=str(sources), discovery=True, http=HttpSettings(allow_private_network=True)
    ).discover([("svc", local_server.url("/stats"))], today=TODAY)
    assert [(r["kind"], r["identifier"], r["status"], r["preview"]) for r in found.rows] == [
        ("impact_csv", "statistiques_impact_mon_service.csv", "in_use", "2024: 130,000 users")
    ]
    # The target row is kept flagged, never a measure; the evidence is the stats page.
    assert sorted((o["value"], o["is_target"], o["evidence_url"]) for o in found.observations) == [
        (130000.0, False, local_server.url("/stats")),
        (500000.0, True, local_server.url("/stats")),
    ]


def test_a_rejected_proposal_is_not_offered_again(tmp_path, local_server):
    from impact_pipeline.defs.usage.sources_config import add_rejection

    pages = [p for p in _serve_world(local_server) if p[0] in ("svc-cards", "svc-dash")]
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text("services: {}\n", encoding="utf-8")
    usage = UsageSources(sources_path=str(sources), discovery=True, http=HttpSettings(allow_private_network=True))
    card = proposal_id("svc-cards", "metabase_question", local_server.url("/").rstrip("/"), UUID_USERS)
    dashboard_card = next(
        r["proposal_id"] for r in usage.discover(pages, today=TODAY).rows if r["kind"] == "metabase_dashboard_card"
    )
    add_rejection(sources, {"proposal": card, "why": "counts accounts created, not people reached"})
    add_rejection(sources, {"proposal": dashboard_card, "why": "another service's démarches"})
    found = usage.discover(pages, today=TODAY)
    assert sorted((r["kind"], r["identifier"]) for r in found.rows) == [
        ("metabase_dashboard", UUID_DASH),
        ("metabase_question", UUID_TWO),
    ]
    assert found.observations == []  # neither is read as a discovered source any more


def _publish_proposals(tmp_path, rows):
    """A published DuckDB file holding the proposals (what `sources proposals|accept|reject` read)."""
    import pandas as pd

    from impact_pipeline import contract
    from impact_pipeline.lib.warehouse import ensure_tables, insert_frame

    path = tmp_path / "published" / "impact.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    ensure_tables(con)
    insert_frame(
        con, contract.USAGE_SOURCE_PROPOSALS, pd.DataFrame(rows, columns=contract.USAGE_SOURCE_PROPOSALS.column_names)
    )
    con.close()
    return path


REVIEWED = """# Usage sources, reviewed like code.
version: "2026.1"   # bumped on every change
first_year: 2016

services:
  svc-tracker:
    # the service's own Matomo site, checked by the data team
    - type: json
      url: https://svc.example.org/stats.json   # their published file
      value_path: total
      unit: uses
      year: 2024
# Add new services above this line.

discovery:
  fetch_registry_pages: true
"""


def test_accept_writes_the_reviewed_file_keeping_its_comments_and_check_accepts_it(
    tmp_path, local_server, monkeypatch, capsys
):
    from impact_pipeline.cli import main

    pages = [p for p in _serve_world(local_server) if p[0] == "svc-cards"]
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(REVIEWED, encoding="utf-8")
    usage = UsageSources(sources_path=str(sources), discovery=True, http=HttpSettings(allow_private_network=True))
    found = usage.discover(pages, today=TODAY)
    monkeypatch.setenv("IMPACT_DUCKDB_PATH", str(_publish_proposals(tmp_path, found.rows)))
    two = next(r["proposal_id"] for r in found.rows if r["identifier"] == UUID_TWO)

    assert main(["sources", "proposals", "--file", str(sources), "--unreviewed"]) == 0
    listing = capsys.readouterr().out
    assert f"{two}  svc-cards  proposed  metabase_question" in listing and "ambiguous: 2 numeric columns" in listing
    # An ambiguous card needs the person's choice.
    with pytest.raises(SystemExit, match="say --value-column, --unit"):
        main(["sources", "accept", two, "--file", str(sources)])
    assert (
        main(["sources", "accept", two, "--file", str(sources), "--value-column", "Visites", "--unit", "visits"]) == 0
    )
    text = sources.read_text(encoding="utf-8")
    for comment in (
        "# Usage sources, reviewed like code.",
        "# bumped on every change",
        "# their published file",
        "# the service's own Matomo site, checked by the data team",
        "# Add new services above this line.",
    ):
        assert comment in text
    assert (
        text.index("svc-tracker:")
        < text.index("svc-cards:")
        < text.index("# Add new services above this line.")
        < text.index("discovery:")
    )
    assert f"# accepted proposal {two}" in text
    assert main(["sources", "check", "--file", str(sources)]) == 0
    assert "valid" in capsys.readouterr().out

    from impact_pipeline.defs.usage.sources_config import load_sources

    spec = load_sources(sources).services["svc-cards"][0]
    options = spec.options
    assert (spec.type, options.date_column, options.value_column, options.unit, options.period) == (
        "metabase",
        "Mois",
        "Visites",
        "visits",
        "month",
    )
    # The next run reads it as a reviewed source, and discovery lists it as such.
    again = usage.discover(pages, today=TODAY)
    assert next(r for r in again.rows if r["identifier"] == UUID_TWO)["status"] == "reviewed"
    collected = usage.collect({"svc-cards": "Cartes", "svc-tracker": "Tracker"}, today=TODAY)
    assert {(o["indicator"], o["value"]) for o in collected.observations if o["startup_id"] == "svc-cards"} == {
        ("Visites", 25000.0),
        ("Visites", 26000.0),
    }

    assert (
        main(["sources", "reject", found.rows[0]["proposal_id"], "--file", str(sources), "--why", "not this service's"])
        == 0
    )
    assert "why: not this service's" in sources.read_text(encoding="utf-8")
    assert main(["sources", "check", "--file", str(sources)]) == 0


def test_check_says_the_line_of_each_error(tmp_path, capsys):
    from impact_pipeline.cli import main

    bad = tmp_path / "usage_sources.yaml"
    bad.write_text(
        """services:
  svc-a:
    - type: matomo
      base_url: https://stats.example.org
      site_id: douze
  svc-b:
    - type: metabase
      question_url: https://mb.example.org/public/question/x
      value_column: Visites
      unit: visits
    - type: ftp
rejected:
  - proposal: p1234567
""",
        encoding="utf-8",
    )
    assert main(["sources", "check", "--file", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] for line in out] == [
        "line 3: services.svc-a[0]: site_id must be a number",
        "line 7: services.svc-b[0]: a metabase source needs date_column (or a fixed year)",
        "line 11: services.svc-b[1]: `type` must be one of impact_csv, matomo, metabase, json",
        "line 13: rejected[0] needs `proposal` and `why`",
    ]
    bad.write_text("services:\n  svc: [a\n", encoding="utf-8")
    assert main(["sources", "check", "--file", str(bad)]) == 1
    assert capsys.readouterr().out.split(": ", 1)[1].startswith("line 3: not valid YAML")


def test_discover_reads_public_pages_only_and_marks_confirmed_sources(tmp_path, local_server):
    local_server.add("/stats", Route(body=local_page(local_server), headers={"Content-Type": "text/html"}))
    base = local_server.url("/").rstrip("/")
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(
        f"services:\n  svc:\n    - type: matomo\n      base_url: {base}\n      site_id: 11\n", encoding="utf-8"
    )
    pages = [
        ("svc", local_server.url("/stats")),
        ("local", "/etc/passwd"),
        ("js", "javascript:alert(1)"),
        ("missing", local_server.url("/nope")),
    ]
    usage = UsageSources(sources_path=str(sources), discovery=True, http=HttpSettings(allow_private_network=True))
    found = usage.discover(pages)
    assert [(r["kind"], r["identifier"], r["confirmed"], r["status"]) for r in found.rows] == [
        ("metabase_question", "0b7d6c1e-3f2a-4e55-8c9d-1a2b3c4d5e6f", False, "proposed"),
        ("metabase_dashboard", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", False, "proposed"),
        ("matomo", "11", True, "reviewed"),
        ("matomo", "42", False, "proposed"),
    ]
    assert {r["stats_url"] for r in found.rows} == {local_server.url("/stats")}
    assert found.problems[:2] == [
        "local: stats_url '/etc/passwd' is not an http(s) URL (not fetched)",
        "js: stats_url 'javascript:alert(1)' is not an http(s) URL (not fetched)",
    ]
    assert "HTTP 404" in found.problems[2]
    assert found.stats["stats_page"]["requests"] == 2


def test_discover_refuses_private_addresses_by_default(local_server):
    local_server.add("/stats", Route(body=PAGE))
    found = UsageSources(discovery=True).discover([("svc", local_server.url("/stats"))])
    assert found.rows == [] and "refusing to connect to private/loopback/link-local address" in found.problems[0]
    assert local_server.requests == []


# -- discovered figures in (b): ranked below reviewed ones, never a fail by default ------------------------------


def _observation(sid, year, value, *, discovered_on=None, source="matomo", unit="visits"):
    return {
        "startup_id": sid,
        "source": source,
        "source_ref": f"{source} {sid}" + (", discovered" if discovered_on else ""),
        "indicator": "nb_visits",
        "value": value,
        "unit": unit,
        "period_start": date(year, 1, 1),
        "period_end": date(year, 12, 31),
        "is_target": False,
        "is_stock": False,
        "evidence_url": discovered_on or "https://svc.example.org/stats",
        "discovered_on": discovered_on,
    }


def test_discovered_figures_rank_below_reviewed_ones_and_support_no_fail_by_default(tmp_path):

    import pandas as pd

    from impact_pipeline import contract
    from impact_pipeline.criteria_config import load_criteria
    from impact_pipeline.defs.usage.assets import ranked_by_review
    from impact_pipeline.defs.usage.criterion import criterion_b_sql
    from impact_pipeline.defs.usage.reach import yearly_reach
    from impact_pipeline.lib.warehouse import Warehouse, insert_frame
    from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
    from impact_pipeline_tests.support.criteria import criteria_with

    page = "https://svc.example.org/stats"
    observations = [
        _observation("svc", 2024, 50000),  # reviewed, below the threshold
        _observation("svc", 2024, 300000, discovered_on=page),  # discovered, larger: still ranked below
        _observation("svc", 2025, 40000, discovered_on=page),  # discovered only, below the threshold
        _observation("svc", 2023, 150000, discovered_on=page),  # discovered only, above
    ]
    rows = ranked_by_review(observations, yearly_reach)
    assert [(r["year"], r["value"], r["discovered_on"]) for r in rows] == [
        (2023, 150000.0, page),
        (2024, 50000.0, None),
        (2025, 40000.0, page),
    ]

    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "pub" / "impact.duckdb"),
        export_dir=str(tmp_path / "exp"),
        work_dir=str(tmp_path / "work"),
    )
    config = load_criteria(DEFAULT_CRITERIA_PATH)
    with warehouse.connect() as con:
        insert_frame(con, contract.YEARLY_REACH, pd.DataFrame(rows, columns=contract.YEARLY_REACH.column_names))
        con.execute(
            "CREATE TEMP TABLE keys AS SELECT * FROM (VALUES (2023, 'svc'), (2024, 'svc'), (2025, "
            "'svc')) k(year, startup_id)"
        )

        def verdicts(cfg):
            sql = criterion_b_sql(con, "keys", cfg)
            return {
                y: (v, r, json.loads(e))
                for y, v, r, e in con.execute(f"SELECT year, verdict, reason, evidence FROM ({sql})").fetchall()
            }

        b = verdicts(config)
        assert b[2024][0] == "fail"  # the reviewed figure decides its year
        assert b[2025][0] == "unknown" and b[2025][1].endswith(
            "but a discovered source cannot support a fail (review it in the sources file)."
        )
        assert b[2023][0] == "pass" and b[2023][2]["evidence_url"] == page
        assert (b[2023][2]["reviewed"], b[2023][2]["discovered_on"]) == (False, page)
        assert "discovered" in b[2023][1]
        # criteria.yaml decides: discovered figures may fail, and may not pass.
        strict = criteria_with({"criteria": {"b": {"discovered_sources": {"may_pass": False, "may_fail": True}}}})
        b = verdicts(strict)
        assert (b[2023][0], b[2024][0], b[2025][0]) == ("unknown", "fail", "fail")


def test_a_stats_page_that_times_out_costs_discovery_one_short_timeout(tmp_path, local_server):
    """Discovery reads stats pages as the URL checks do (issue 14 item 10): one short budget, never retried."""
    import time

    base = local_server.url("/").rstrip("/")
    local_server.add("/silent", Route(delay=5, body="<html>late</html>"))
    local_server.add("/open/index.php", Route(body=MATOMO_YEARS))
    local_server.add(
        "/tracked",
        Route(
            body=(
                "<script>var _paq = window._paq || []; (function() { var u=\"" + base + "/open/\";"
                " _paq.push(['setTrackerUrl', u+'matomo.php']); _paq.push(['setSiteId', '5']); })();</script>"
            ),
            headers={"Content-Type": "text/html"},
        ),
    )
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text("services: {}\n", encoding="utf-8")
    usage = UsageSources(
        sources_path=str(sources),
        discovery=True,
        http=HttpSettings(allow_private_network=True),
        page_timeout_seconds=1.0,
    )
    started = time.monotonic()
    found = usage.discover(
        [("svc-silent", local_server.url("/silent")), ("svc-tracked", local_server.url("/tracked"))], today=TODAY
    )
    elapsed = time.monotonic() - started
    assert len(local_server.requests_to("/silent")) == 1  # no retry of a timeout
    assert elapsed < 4.0  # one 1 s budget, not the 5 s the page takes (nor the 120 s of the general policy)
    assert any(p.startswith("svc-silent: ") and "timed out" in p for p in found.problems), found.problems
    assert [r["kind"] for r in found.rows if r["startup_id"] == "svc-tracked"] == ["matomo"]  # the others are read
