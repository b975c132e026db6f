"""Targets 1 and 2 (network-bound cold run, warm nightly run) against a local copy of the internet.

    python bench/network.py [--latency-ms 50] [--concurrency N] [--per-host N] [--keep]

The world. One threaded HTTP server on 127.0.0.1 plays every host the pipeline talks to. It is a forward
proxy: the pipeline's child process gets HTTP(S)_PROXY pointing at it, so the registry copy is the real
snapshot byte for byte and every source URL keeps its live default (IMPACT_*_URL unset): the registry at
https://beta.gouv.fr, the observatoire, api.github.com, gitlab.com and the self-hosted GitLabs (repositories, and
owners' listings of their repositories), web.archive.org's CDX API (a few captures a year), data.gouv.fr,
the declared stats pages and repository URLs on their ~150 real hosts, and the usage sources of a bench
sources file (Matomo on stats.beta.gouv.fr, Metabase cards, JSON files, one service in three with a stats
page). HTTPS goes through CONNECT tunnels that the server terminates with a throwaway certificate naming
every host (trusted through REQUESTS_CA_BUNDLE), so connections, TLS handshakes and per-host limits are
per real host, as in production. IMPACT_ALLOW_PRIVATE_NETWORK=1 is set because the real names are not
resolvable offline (the address check would resolve them); nothing else in the pipeline is changed.
Every request waits the injected latency (50 ms) before its answer; every GET answer carries an ETag and a
Last-Modified, and a GET with a matching If-None-Match (or, without one, If-Modified-Since) is answered
304. Bodies are generated deterministically from the registry (repository dates from the services' phases,
commit counts per year, observatoire editions built on the observatoire's real démarche URLs), so a second
run sees unchanged sources.

The runs (each the real Dagster job in a child process, temp DAGSTER_HOME, SQLite storage, as the CLI):
  cold  = `impact-pipeline materialize`: every year from 2016 to the current one, empty working area and
          HTTP caches;
  warm  = the nightly run (`nightly_refresh`: the current year's partition) right after, on the same
          working area, sources unchanged.

Definitions.
  fetch phase   the Dagster steps that fetch per-service data: observatoire_procedures, web_archive_captures
                (the web archive's CDX API, two requests at a time), activity_and_page_checks (one step
                materializing repository_activity, from GitHub and GitLab, and stats_page_checks, the url_checks,
                their requests side by side) and usage_sources (one step
                materializing usage_observations, from Matomo, Metabase, JSON and data.gouv.fr, and
                usage_source_proposals, the stats pages read by discovery, side by side). Its time is the sum of these
                steps' durations (STEP_START to STEP_SUCCESS in the event log; the in-process executor runs steps
                one after another), so parsing and DuckDB writes inside those steps count against it. The registry
                fetch (one request) is ingest, shown apart.
  per source    requests, hosts, bytes, 304s and errors as the server saw them (checked against the
                pipeline's own Fetcher counters in the steps' metadata: a mismatch is printed), "answer ms" the
                mean time the server took per answer (the latency plus generating it), "busy s" the time during
                which at least one request of the source was in flight.
  floor         for a set of requests, L x max(ceil(N / G), max over hosts h of ceil(n_h / P)): N requests,
                n_h of them to host h, G requests in flight in total (IMPACT_FETCH_CONCURRENCY, default 8), P
                per host (IMPACT_FETCH_PER_HOST, default 2), L the latency. This is `requests x L /
                concurrency` with the concurrency that actually applies: min(G, P x hosts) when requests are
                spread over many hosts, the per-host limit when one host holds most of them (api.github.com
                for the forges, github.com for the URL checks); no schedule can beat either bound. It is
                printed per source; the fetch phase floor is the sum over the fetching steps of the floor of
                each step's requests taken together (the executor runs steps one after another; inside a
                step, sources fetched side by side share the limits).
Targets (issue 19): fetch phase <= 1.3 x its floor (cold run); warm run wall time <= 20 % of the cold run's and its
non-fetching steps <= 5 s, with every repeatable request (a GET also sent in the cold run) conditional and answered
304.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_SNAPSHOT = ROOT.parent / "shared" / "data" / "betagouv" / "startups.json"
OBSERVATOIRE_CSV = ROOT.parent / "shared" / "data" / "observatoire" / "dashlord_observatoire_results_flat.csv"

TARGET_COLD = 1.3
TARGET_WARM = 0.20
TARGET_WARM_OTHER_STEPS = 5.0  # seconds of the warm run's non-fetching steps
DEFAULT_CONCURRENCY, DEFAULT_PER_HOST = 8, 2  # the Fetcher's defaults (lib/fetching.py)
# Steps whose requests are per-service fetches (activity_and_page_checks materializes repository_activity and
# stats_page_checks in one step, their requests side by side; usage_sources the usage tables and the proposals).
FETCH_STEPS = ("observatoire_procedures", "activity_and_page_checks", "usage_sources", "web_archive_captures")
# A step's requests for declared pages (the "page" kind of the world) are the source it reads them for.
PAGE_SOURCES = {"activity_and_page_checks": "url_checks", "usage_sources": "stats_page"}
REGISTRY_URL = "https://beta.gouv.fr/api/v2.5/startups.json"
ARCHIVE_HOST = "web.archive.org"  # the web archive's CDX API (quality/web_archive.py)
DATAGOUV_LISTING = "/api/1/datasets/"
MATOMO_HOST = "stats.beta.gouv.fr"
# Every GET answer says it was last modified then (a fixed date: the sources are "unchanged").
LAST_MODIFIED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_FILLER = (
    "<p>Statistiques d'usage du service : visites, utilisateurs, démarches réalisées en ligne, "
    "satisfaction des usagers et impact mesuré, mis à jour chaque mois.</p>\n"
) * 8


def _h(*parts: object) -> int:
    """A stable pseudo-random number for the world's generated facts."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# -- 1. the world: every answer, generated from the real snapshot ------------------------------------
class World:
    """What each host answers: the registry, forges, observatoire, data.gouv.fr, usage sources, pages."""

    def __init__(self, snapshot: Path, today: date):
        from impact_pipeline.defs.quality import forges
        from impact_pipeline.lib.urls import web_address

        self.today = today
        self.registry = snapshot.read_bytes()
        records = json.loads(self.registry)["data"]
        self.hosts: set[str] = {
            "beta.gouv.fr",
            "api.github.com",
            "gitlab.com",
            "observatoire.numerique.gouv.fr",
            "www.data.gouv.fr",
            "static.data.gouv.fr",
            MATOMO_HOST,
            ARCHIVE_HOST,
        }
        self.repos: dict[str, dict[str, Any]] = {}  # "github:owner/repo" or "gitlab:host/path" (lower case)
        self.owners: dict[str, list[dict[str, Any]]] = {}  # "github:owner" or "gitlab:host/group": its repositories
        self.services: list[dict[str, Any]] = []
        for record in records:
            attrs = record.get("attributes") or {}
            phases = [p for p in attrs.get("phases") or [] if isinstance(p, dict) and _day(p.get("start"))]
            phases.sort(key=lambda p: _day(p["start"]))
            first = _day(phases[0]["start"]) if phases else date(2018, 1, 1)
            last = phases[-1] if phases else {"name": "construction", "start": "2018-01-01"}
            stats_url = web_address(attrs.get("stats_url"))
            for value in (attrs.get("stats_url"), attrs.get("repository"), attrs.get("link")):
                url = web_address(value)
                if url and urlsplit(url).hostname:
                    self.hosts.add(urlsplit(url).hostname.lower())
            ref = forges.parse_repository(attrs.get("repository"))
            if ref is not None and ref.forge and ref.path:
                key = f"{ref.forge}:{ref.path.lower()}" if ref.forge == forges.GITHUB else f"gitlab:{ref.name.lower()}"
                h = _h(key)
                ended = str(last.get("name")) in ("abandon", "alumni", "abandon-investigation")
                created = first - timedelta(days=h % 90)
                pushed = (
                    min(_day(last["start"]) + timedelta(days=h % 200), today)
                    if ended
                    else today - timedelta(days=h % 45)
                )
                repo = {
                    "path": ref.path,
                    "created": created,
                    "pushed": max(pushed, created),
                    "archived": ended and h % 3 == 0,
                }
                if ref.scope == "owner":  # an organisation, user or group: a listing of its repositories
                    self.owners.setdefault(key, self._members(ref, repo, h))
                else:
                    self.repos.setdefault(key, repo)
            self.services.append({"id": record.get("id"), "name": attrs.get("name"), "stats_url": stats_url})
        self.usage = self._usage_sources()
        self.editions = self._editions()
        self.datasets = self._datasets()
        self._answers: dict[tuple[str, str, str, str], tuple[str, int, dict[str, str], bytes]] = {}
        self._procedure_urls = self._observatoire_urls()
        # The stats page of a service with a usage source references it (what discovery looks for).
        self.snippets: dict[str, str] = {}
        for s in self.services:
            spec = self.usage.get(s["id"]) if s["stats_url"] else None
            if spec and spec["type"] == "matomo":
                self.snippets[s["stats_url"]] = (
                    f'<script>var u="https://{MATOMO_HOST}/"; _paq.push(["setTrackerUrl", u+"matomo.php"]);'
                    f' _paq.push(["setSiteId", "{spec["site_id"]}"]);</script>'
                )
            elif spec and spec["type"] == "metabase":
                self.snippets[s["stats_url"]] = f'<iframe src="{spec["question_url"]}"></iframe>'

    # -- generated facts ------------------------------------------------------------------------------
    def _usage_sources(self) -> dict[str, dict[str, Any]]:
        """The bench's reviewed sources file: one service with a stats page in three has a usage source."""
        sources: dict[str, dict[str, Any]] = {}
        with_page = sorted((s for s in self.services if s["stats_url"]), key=lambda s: s["id"])
        for i, s in enumerate(with_page):
            host = urlsplit(s["stats_url"]).hostname.lower()
            kind = ("matomo", "matomo", "metabase", "json", None, None, None, None, None, None)[i % 10]
            if kind == "matomo":
                sources[s["id"]] = {
                    "type": "matomo",
                    "base_url": f"https://{MATOMO_HOST}",
                    "site_id": 10 + i,
                    "monthly_uniques": i % 20 == 0,
                    "evidence_url": s["stats_url"],
                }
            elif kind == "metabase":
                uuid = hashlib.md5(s["id"].encode()).hexdigest()
                uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:32]}"
                mb = f"metabase.{host}"
                self.hosts.add(mb)
                sources[s["id"]] = {
                    "type": "metabase",
                    "question_url": f"https://{mb}/public/question/{uuid}",
                    "date_column": "Mois",
                    "value_column": "Utilisateurs",
                    "period": "month",
                    "unit": "visitors",
                }
            elif kind == "json":
                sources[s["id"]] = {
                    "type": "json",
                    "url": f"https://{host}/stats.json",
                    "value_path": 'annees["{year}"].usagers',
                    "unit": "users",
                    "evidence_url": s["stats_url"],
                }
        return sources

    def sources_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(
            {
                "version": "bench",
                "first_year": 2016,
                "services": {sid: [spec] for sid, spec in sorted(self.usage.items())},
                "datagouv": {"aliases": {}, "ignore_datasets": []},
                "discovery": {"fetch_registry_pages": True, "mirrors": {}},
            },
            allow_unicode=True,
            sort_keys=False,
        )

    def _editions(self) -> list[dict[str, Any]]:
        editions = []
        for year in range(2022, self.today.year + 1):
            for quarter in range(1, 5):
                end = date(year, 3 * quarter, 28)
                if end > self.today:
                    break
                editions.append(
                    {
                        "id": f"ed-{year}-t{quarter}",
                        "name": f"Édition T{quarter} {year}",
                        "start_date": f"{date(year, 3 * quarter - 2, 1)}T00:00:00.000Z",
                        "end_date": f"{end}T00:00:00.000Z",
                        "created_at": f"{end}T08:00:00.000Z",
                    }
                )
        return editions

    def _observatoire_urls(self) -> list[str]:
        import csv

        urls = []
        if OBSERVATOIRE_CSV.exists():
            with open(OBSERVATOIRE_CSV, encoding="utf-8") as fh:
                urls = [row["url"] for row in csv.DictReader(fh) if row.get("url")]
        # Plus some services' own hosts, so that démarches match registry services.
        return urls + [f"https://{h}/demarche" for h in sorted(self.hosts)[::4]]

    def _procedures(self, edition_id: str) -> list[dict[str, Any]]:
        out = []
        for i, url in enumerate(self._procedure_urls):
            h = _h(edition_id, url)

            def colour(k: int, h: int = h) -> str:  # h bound now: this iteration's hash
                return ("green", "orange", "red", "green")[(h >> k) % 4]

            out.append(
                {
                    "id": f"proc-{i}",
                    "title": f"Démarche {i}",
                    "administration": "Administration",
                    "volume": f"{(h % 5_000_000):,}".replace(",", " "),
                    "editionId": edition_id,
                    "fields": [
                        {"slug": "online", "label": "Oui", "color": "green", "value": url},
                        {"slug": "satisfaction", "label": f"{h % 10} / 10", "color": colour(3), "value": str(h % 10)},
                        {"slug": "handicap", "label": "Partiel", "color": colour(5), "value": "Conformité à 50%"},
                        {"slug": "dlnuf", "label": "Optimal", "color": colour(7), "value": str(h % 4)},
                        {"slug": "auth", "label": "FranceConnect", "color": "blue"},
                        {"slug": "simplicity", "label": "7 / 10", "color": colour(9), "value": "7/10"},
                        {
                            "slug": "help_reachable",
                            "label": f"{h % 100} %",
                            "color": colour(11),
                            "value": f"0.{h % 100:02d}",
                        },
                    ],
                }
            )
        return out

    def _datasets(self) -> list[dict[str, Any]]:
        named = sorted((s for s in self.services if s["name"]), key=lambda s: s["id"])[3::25]
        return [
            {
                "id": f"ds-{i}",
                "title": f"Impact de {s['name']}",
                "page": f"https://www.data.gouv.fr/fr/datasets/impact-{i}/",
                "resources": [
                    {
                        "id": f"res-{i}",
                        "format": "csv",
                        "url": f"https://static.data.gouv.fr/resources/impact-{i}/impact.csv",
                        "schema": {"name": "etalab/schema-impact-service-public-numerique", "version": "0.5.0"},
                    }
                ],
                "service": s["name"],
            }
            for i, s in enumerate(named)
        ]

    def _members(self, ref: Any, owner: dict[str, Any], h: int) -> list[dict[str, Any]]:
        """An owner's public repositories (3 to 8), registered as repositories of their own for their commits."""
        members = []
        for i in range(3 + h % 6):
            path = f"{ref.path}/{ref.path.rsplit('/', 1)[-1].lower()}-{i}"
            created = owner["created"] + timedelta(days=97 * i)
            pushed = max(created, owner["pushed"] - timedelta(days=(_h(path) % 400) * (i % 3)))
            repo = {"path": path, "created": created, "pushed": pushed, "archived": owner["archived"] and i % 2 == 0}
            key = f"github:{path.lower()}" if ref.forge == "github" else f"gitlab:{ref.host}/{path}".lower()
            members.append(self.repos.setdefault(key, repo))
        return members

    def commits_in(self, repo: dict[str, Any], year: int) -> int:
        if not (repo["created"].year <= year <= repo["pushed"].year):
            return 0
        h = _h(repo["path"], year)
        return 0 if h % 9 == 0 else 1 + h % 250

    # -- answers --------------------------------------------------------------------------------------
    def answer(self, method: str, scheme: str, host: str, target: str) -> tuple[str, int, dict[str, str], bytes]:
        """(kind, status, headers, body) for one request; kind names the source for the figures.

        Memoised: generating an answer is the server's CPU, not the network's, and the warm run asks again."""
        key = (method, scheme, host, target)
        if key not in self._answers:
            self._answers[key] = self._answer(method, scheme, host, target)
        return self._answers[key]

    def _answer(self, method: str, scheme: str, host: str, target: str) -> tuple[str, int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)

        def js(kind: str, doc: Any, status: int = 200, headers: dict[str, str] | None = None):
            return (
                kind,
                status,
                {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
                json.dumps(doc, ensure_ascii=False).encode(),
            )

        if host == "beta.gouv.fr" and path == "/api/v2.5/startups.json":
            return "registry", 200, {"Content-Type": "application/json"}, self.registry
        if host == "api.github.com" and path.startswith("/users/"):
            owner = self.owners.get(f"github:{path.split('/')[2]}".lower()) if path.endswith("/repos") else None
            if owner is None:
                return js("github", {"message": "Not Found"}, 404)
            return js("github", [self._github_repo(r) for r in owner])
        m = re.match(r"^/api/v4/groups/([^/]+)/projects$", path)
        if m:
            owner = self.owners.get(f"gitlab:{host.removeprefix('www.')}/{unquote(m[1])}".lower())
            if owner is None:
                return js("gitlab", {"message": "404 Group Not Found"}, 404)
            return js("gitlab", [self._gitlab_project(r) for r in owner])
        if host == ARCHIVE_HOST and path == "/cdx/search/cdx":
            return js("web_archive", self._captures(query))
        if host == "api.github.com":
            m = re.match(r"^/repos/([^/]+)/([^/]+)(/commits)?$", path)
            repo = self.repos.get(f"github:{m[1]}/{m[2]}".lower()) if m else None
            if repo is None:
                return js("github", {"message": "Not Found"}, 404)
            if not m[3]:
                return js("github", self._github_repo(repo))
            year = int((query.get("since") or ["2016"])[0][:4])
            n = self.commits_in(repo, year)
            headers = {}
            if n > 1:
                base = f"https://api.github.com/repositories/{_h(repo['path']) % 10**8}/commits?per_page=1&since={year}"
                headers["Link"] = f'<{base}&page=2>; rel="next", <{base}&page={n}>; rel="last"'
            return js("github", [self._commit(repo, year)] if n else [], headers=headers)
        m = re.match(r"^/api/v4/projects/([^/]+)(/repository/commits)?$", path)
        if m:
            repo = self.repos.get(f"gitlab:{host.removeprefix('www.')}/{unquote(m[1])}".lower())
            if repo is None:
                return js("gitlab", {"message": "404 Project Not Found"}, 404)
            if not m[2]:
                return js("gitlab", self._gitlab_project(repo))
            year = int((query.get("since") or ["2016"])[0][:4])
            n = self.commits_in(repo, year)
            return js("gitlab", [self._commit(repo, year)] if n else [], headers={"X-Total": str(n)})
        if host == "observatoire.numerique.gouv.fr":
            if path == "/api/editions":
                return js("observatoire", self.editions)
            if path == "/api/procedures":
                return js("observatoire", self._procedures((query.get("editionId") or [""])[0]))
        if host == "www.data.gouv.fr" and path == DATAGOUV_LISTING:
            data = [{k: v for k, v in d.items() if k != "service"} for d in self.datasets]
            return js("datagouv", {"data": data, "page": 1, "page_size": 100, "total": len(data), "next_page": None})
        if host == "static.data.gouv.fr":
            m = re.match(r"^/resources/impact-(\d+)/impact.csv$", path)
            datasets = self.datasets
            if m and int(m[1]) < len(datasets):
                return "datagouv", 200, {"Content-Type": "text/csv"}, self._impact_csv(datasets[int(m[1])]["service"])
        if host == MATOMO_HOST and path == "/index.php":
            if method != "POST":
                return "matomo", 405, {}, b"POST only"
            site, period = (query.get("idSite") or ["0"])[0], (query.get("period") or ["year"])[0]
            if period == "month":
                doc = {
                    f"{y}-{mo:02d}": {
                        "nb_visits": _h(site, y, mo) % 90_000,
                        "nb_uniq_visitors": _h(site, y, mo) % 40_000,
                    }
                    for y in range(2019, self.today.year + 1)
                    for mo in range(1, 13)
                    if date(y, mo, 1) <= self.today
                }
            else:
                doc = {str(y): {"nb_visits": _h(site, y) % 2_000_000} for y in range(2016, self.today.year + 1)}
            return js("matomo", doc)
        m = re.match(r"^/api/public/card/([0-9a-f-]{36})/query/json$", path)
        if m:
            return js(
                "metabase",
                [
                    {"Mois": f"{y}-{mo:02d}", "Utilisateurs": _h(m[1], y, mo) % 50_000}
                    for y in range(2020, self.today.year)
                    for mo in range(1, 13)
                ],
            )
        if path == "/stats.json":
            return js(
                "json", {"annees": {str(y): {"usagers": _h(host, y) % 500_000} for y in range(2018, self.today.year)}}
            )
        # Any other URL: a declared stats page or repository page answering with a page.
        return "page", 200, {"Content-Type": "text/html; charset=utf-8"}, self._page(f"{scheme}://{host}{target}")

    @staticmethod
    def _gitlab_project(repo: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _h(repo["path"]) % 10**6,
            "path_with_namespace": repo["path"],
            "visibility": "public",
            "archived": repo["archived"],
            "created_at": f"{repo['created']}T09:00:00.000Z",
            "last_activity_at": f"{repo['pushed']}T17:00:00.000Z",
            "description": _FILLER[:400],
        }

    def _captures(self, query: dict[str, list[str]]) -> list[list[str]]:
        """A CDX answer: a header row, then one capture a day on a few days of each year asked (none in some)."""
        url = (query.get("url") or [""])[0]
        first, last = (int((query.get(k) or [y])[0][:4]) for k, y in (("from", "2016"), ("to", str(self.today.year))))
        rows = []
        for year in range(first, last + 1):
            h = _h(url, year)
            for k in range(h % 4):  # 0 to 3 captures in the year
                day = date(year, 1 + (h >> (4 + k)) % 12, 1 + (h >> (8 + k)) % 28)
                if day <= self.today:
                    status = "200" if (h >> k) % 5 else "404"
                    rows.append([f"{day:%Y%m%d}101500", status, url])
        return [["timestamp", "statuscode", "original"], *sorted(rows)] if rows else []

    def _github_repo(self, repo: dict[str, Any]) -> dict[str, Any]:
        owner, name = repo["path"].split("/")[:2]
        api = f"https://api.github.com/repos/{owner}/{name}"
        return {
            "id": _h(repo["path"]) % 10**8,
            "name": name,
            "full_name": repo["path"],
            "private": False,
            "visibility": "public",
            "archived": repo["archived"],
            "fork": False,
            "default_branch": "main",
            "created_at": f"{repo['created']}T09:00:00Z",
            "pushed_at": f"{repo['pushed']}T17:00:00Z",
            "updated_at": f"{repo['pushed']}T17:05:00Z",
            "html_url": f"https://github.com/{repo['path']}",
            "description": _FILLER[:300],
            "owner": {"login": owner, "type": "Organization", "url": f"https://api.github.com/users/{owner}"},
            **{
                f"{k}_url": f"{api}/{k}"
                for k in (
                    "branches",
                    "commits",
                    "contributors",
                    "issues",
                    "pulls",
                    "releases",
                    "tags",
                    "languages",
                    "stargazers",
                    "subscribers",
                    "forks",
                    "events",
                )
            },
        }

    @staticmethod
    def _commit(repo: dict[str, Any], year: int) -> dict[str, Any]:
        sha = hashlib.sha1(f"{repo['path']}{year}".encode()).hexdigest()
        who = {"name": "Dev", "email": "dev@beta.gouv.fr", "date": f"{year}-06-15T10:00:00Z"}
        return {
            "sha": sha,
            "commit": {"author": who, "committer": who, "message": "chore: update"},
            "committed_date": f"{year}-06-15T10:00:00Z",
            "parents": [{"sha": sha[::-1]}],
        }

    def _impact_csv(self, service: str) -> bytes:
        head = (
            "administration_rattachement,nom_service_public_numerique,indicateur,valeur,unite_mesure,est_cible,"
            "type_indicateur,frequence_monitoring,date,est_periode,date_debut,est_automatise,source_collecte\n"
        )
        name = service.replace(",", " ").replace('"', "")
        rows = [
            f"DINUM,{name},Nombre d'utilisateurs,{_h(service, y) % 400_000},unité,false,usage,annuelle,"
            f"{y}-12-31,true,{y}-01-01,true,script\n"
            for y in range(2019, self.today.year)
        ]
        return (head + "".join(rows)).encode()

    def _page(self, url: str) -> bytes:
        head = f"<!doctype html><html><head><title>{url}</title></head><body>{self.snippets.get(url, '')}\n"
        return (head + _FILLER * (2 + _h(url) % 12) + "</body></html>").encode()


# -- 2. the server: a TLS-terminating forward proxy with injected latency and conditional answers -----
class Log:
    """Every request the server answered, and the most requests seen in flight (total, per host)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []
        self.in_flight: Counter[str] = Counter()
        self.total = 0
        self.max_total = 0
        self.max_host: Counter[str] = Counter()
        self.tls_errors: Counter[str] = Counter()

    def enter(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] += 1
            self.total += 1
            self.max_total = max(self.max_total, self.total)
            self.max_host[host] = max(self.max_host[host], self.in_flight[host])

    def answered(self, host: str) -> None:
        """Called before the answer is sent, so the client cannot start its next request before this runs."""
        with self.lock:
            self.in_flight[host] -= 1
            self.total -= 1

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.entries.append(entry)

    def reset(self) -> None:
        with self.lock:
            self.entries, self.max_total, self.max_host, self.tls_errors = [], 0, Counter(), Counter()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    tunnel_host: str | None = None  # set inside a CONNECT tunnel

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle plus the client's delayed
        # ACK would add ~40 ms to every answer on top of the injected latency.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0].strip("[]").lower()
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            with self.server.log.lock:
                self.server.log.tls_errors[host] += 1
            self.close_connection = True
            return
        tunnel = _Handler.__new__(_Handler)
        tunnel.tunnel_host = host
        try:
            _Handler.__init__(tunnel, tls, self.client_address, self.server)
        except OSError:
            pass
        finally:
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was handed to a TLS tunnel

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.time()
        if self.tunnel_host:
            scheme, host, target = "https", self.tunnel_host, self.path
        else:  # plain http through the proxy: absolute-form request line
            parts = urlsplit(self.path)
            scheme, host = "http", (parts.hostname or self.headers.get("Host", "").split(":")[0]).lower()
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        log, world = self.server.log, self.server.world
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        kind, status, body = "?", 0, b""
        log.enter(host)
        counted = True
        try:
            if self.server.stopping.wait(self.server.latency):  # the injected latency
                self.close_connection = True
                return
            kind, status, headers, body = world.answer(self.command, scheme, host, target)
            if status == 200 and self.command in ("GET", "HEAD"):
                etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
                headers = {**headers, "ETag": etag, "Last-Modified": format_datetime(LAST_MODIFIED, usegmt=True)}
                if inm is not None:
                    fresh = etag in [t.strip().removeprefix("W/") for t in inm.split(",")] or inm.strip() == "*"
                else:
                    try:
                        fresh = ims is not None and parsedate_to_datetime(ims) >= LAST_MODIFIED
                    except (TypeError, ValueError):
                        fresh = False
                if fresh:
                    status, body = 304, b""
            log.answered(host)
            counted = False
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status != 304:
                self.wfile.write(body)
        finally:
            if counted:
                log.answered(host)
            log.record(
                {
                    "t0": started,
                    "t1": time.time(),
                    "host": host,
                    "method": self.command,
                    "kind": kind,
                    "status": status,
                    "bytes": len(body),
                    "url": f"{scheme}://{host}{target}",
                    "conditional": bool(inm or ims),
                }
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Internet:
    """The proxy server on 127.0.0.1 with its certificate (one, naming every host of the world)."""

    def __init__(self, world: World, folder: Path, latency: float):
        self.cert = folder / "bench-ca.pem"
        key = folder / "bench-key.pem"
        names = []
        for h in sorted(world.hosts):
            try:
                names.append(f"IP:{ipaddress.ip_address(h)}")
            except ValueError:
                if re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", h):
                    names.append(f"DNS:{h}")
        config = folder / "openssl.cnf"
        config.write_text(
            "[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n[dn]\nCN=impact-bench\n"
            "[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\n"
            "subjectAltName=" + ",".join(names) + "\n"
        )
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(self.cert),
                "-config",
                str(config),
            ],
            check=True,
            capture_output=True,
        )
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.tls.load_cert_chain(self.cert, key)
        self.server.world, self.server.latency = world, latency
        self.server.log, self.server.stopping = Log(), threading.Event()
        self.log = self.server.log
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Internet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()


# -- 3. the pipeline, in a child process --------------------------------------------------------------
def _child(args: argparse.Namespace) -> None:
    """Runs in the child: one real run (cold: every year; warm: the nightly's partition), then one JSON line."""
    import dagster as dg

    from impact_pipeline.definitions import build_definitions
    from impact_pipeline.defs.partitions import yearly_partitions
    from impact_pipeline.settings import Settings
    from impact_pipeline_tests.support.pipeline import failure_text

    keys = yearly_partitions.get_partition_keys()
    settings = Settings.from_env()  # live defaults: every source URL is the real one, reached through the proxy
    job = build_definitions(settings).resolve_job_def("impact_job")
    instance = dg.DagsterInstance.get()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # as the CLI
    started = time.time()
    if args.mode == "cold":
        result = job.execute_in_process(
            instance=instance,
            run_config=quiet,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
    else:  # what nightly_refresh requests: the current year's partition
        result = job.execute_in_process(
            instance=instance, run_config=quiet, raise_on_error=False, partition_key=keys[-1]
        )
    ended = time.time()
    steps: dict[str, list[float]] = {}
    counters: dict[str, dict[str, Any]] = {}
    waits: dict[str, dict[str, Any]] = {}  # per host: the run's time lost to timeouts (the latest step's figure)
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            steps[event.step_key] = [entry.timestamp, entry.timestamp]
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in steps:
            steps[event.step_key][1] = entry.timestamp
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            # A step materializing several assets (or partitions) reports each asset's sources: merged per step.
            metadata = event.event_specific_data.materialization.metadata
            for name in ("requests", "fetch_counters"):
                if name in metadata:
                    counters.setdefault(event.step_key, {}).update(metadata[name].data)
            if "host_waits" in metadata:
                waits.update(metadata["host_waits"].data)
    print(
        "BENCH "
        + json.dumps(
            {
                "success": result.success,
                "failure": "" if result.success else failure_text(result)[-3000:],
                "started": started,
                "ended": ended,
                "steps": steps,
                "counters": counters,
                "host_waits": waits,
                "years": [keys[0], keys[-1]],
            }
        ),
        flush=True,
    )


def run_child(mode: str, env: dict[str, str], profile: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile / f"{mode}.prof")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"{mode} run: child failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    figures = json.loads(lines[-1][len("BENCH ") :])
    if not figures["success"]:
        print(f"{mode} run FAILED (figures below are of a failed run):\n{figures['failure']}", flush=True)
    return figures


# -- 4. figures -----------------------------------------------------------------------------------------
def floor_seconds(hosts: Counter[str], latency: float, concurrency: int, per_host: int) -> float:
    n = sum(hosts.values())
    if not n:
        return 0.0
    return latency * max(math.ceil(n / concurrency), max(math.ceil(c / per_host) for c in hosts.values()))


def busy_seconds(items: list[dict[str, Any]]) -> float:
    """Time during which at least one of these requests was in flight (the union of their intervals)."""
    total, end = 0.0, None
    for t0, t1 in sorted((e["t0"], e["t1"]) for e in items):
        if end is None or t0 > end:
            total += t1 - t0
            end = t1
        elif t1 > end:
            total += t1 - end
            end = t1
    return total


def analyse(
    run: dict[str, Any], entries: list[dict[str, Any]], latency: float, concurrency: int, per_host: int
) -> dict[str, Any]:
    """Per source: the pipeline's counters, what the server saw (requests, hosts, 304s, busy time) and the floor."""
    steps = run["steps"]

    def step_of(t: float) -> str | None:
        return next((k for k, (a, b) in steps.items() if a <= t <= b), None)

    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        step = step_of(e["t0"])
        source = e["kind"]
        if source == "page":
            source = PAGE_SOURCES.get(step or "", "page")
        seen[(step or "?", source)].append(e)
    rows = []
    order = ("registry_raw",) + FETCH_STEPS
    for (step, source), items in sorted(
        seen.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1])
    ):
        hosts = Counter(e["host"] for e in items)
        ours = (run["counters"].get(step) or {}).get(source) or {}
        rows.append(
            {
                "step": step,
                "source": source,
                "requests": len(items),
                "pipeline_requests": ours.get("requests"),
                "bytes": sum(e["bytes"] for e in items),
                "pipeline_bytes": ours.get("bytes"),
                "hosts": len(hosts),
                "busiest": hosts.most_common(1)[0],
                "n304": sum(e["status"] == 304 for e in items),
                "errors": sum(e["status"] >= 400 for e in items),
                "pipeline_errors": ours.get("errors"),
                "busy": busy_seconds(items),
                "server_ms": 1000 * sum(e["t1"] - e["t0"] for e in items) / len(items),
                "floor": floor_seconds(hosts, latency, concurrency, per_host),
            }
        )
    fetch_steps = {k: b - a for k, (a, b) in steps.items() if k in FETCH_STEPS}
    by_step: dict[str, Counter[str]] = defaultdict(Counter)
    for (step, _), items in seen.items():
        by_step[step].update(e["host"] for e in items)
    step_floors = {k: floor_seconds(by_step[k], latency, concurrency, per_host) for k in fetch_steps}
    # Where a fetching step's time goes: before its first request, with requests in flight, idle between
    # requests, after its last answer.
    step_parts = {}
    for k in fetch_steps:
        items = [e for (step, _), group in seen.items() if step == k for e in group]
        if items:
            a, b = steps[k]
            lead, tail, busy = min(e["t0"] for e in items) - a, b - max(e["t1"] for e in items), busy_seconds(items)
            step_parts[k] = {"lead": lead, "busy": busy, "idle": fetch_steps[k] - lead - tail - busy, "tail": tail}
    in_steps = sum(b - a for a, b in steps.values())
    return {
        "rows": rows,
        "fetch_steps": fetch_steps,
        "fetch_seconds": sum(fetch_steps.values()),
        "floor": sum(step_floors.values()),
        "step_floors": step_floors,
        "step_parts": step_parts,
        "network": busy_seconds([e for e in entries if step_of(e["t0"]) in FETCH_STEPS]),
        "other_steps": in_steps - sum(fetch_steps.values()),
        "run_seconds": run["ended"] - run["started"],
        "outside_steps": run["ended"] - run["started"] - in_steps,
    }


def print_table(figures: dict[str, Any]) -> None:
    print(
        f"  {'source':<12} {'step':<24} {'requests':>8} {'hosts':>5} {'busiest host':<32} {'MB':>7} "
        f"{'304s':>5} {'errors':>6} {'answer ms':>9} {'busy s':>7} {'floor s':>7} {'step s':>7}"
    )
    for r in figures["rows"]:
        check = (
            "" if r["pipeline_requests"] in (None, r["requests"]) else f"  (pipeline counted {r['pipeline_requests']})"
        )
        host, n = r["busiest"]
        step_s = figures["fetch_steps"].get(r["step"])
        print(
            f"  {r['source']:<12} {r['step']:<24} {r['requests']:>8} {r['hosts']:>5} {f'{host} ({n})'[:32]:<32} "
            f"{r['bytes'] / 1e6:>7.2f} {r['n304']:>5} {r['errors']:>6} {r['server_ms']:>9.1f} "
            f"{r['busy']:>7.2f} {r['floor']:>7.2f} "
            f"{'' if step_s is None else f'{step_s:.2f}':>7}{check}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0, help="latency injected before every answer")
    parser.add_argument(
        "--concurrency", type=int, help="IMPACT_FETCH_CONCURRENCY for the runs (default: the pipeline's, 8)"
    )
    parser.add_argument("--per-host", type=int, help="IMPACT_FETCH_PER_HOST for the runs (default: the pipeline's, 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (DuckDB files, caches, certificate)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each run into <temp dir>/cold.prof and warm.prof (implies --keep; times are inflated)",
    )
    parser.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.mode = args.child
        _child(args)
        return 0
    if not REAL_SNAPSHOT.exists():
        print(f"real registry snapshot not found at {REAL_SNAPSHOT}", file=sys.stderr)
        return 2
    latency = args.latency_ms / 1000
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    per_host = args.per_host or DEFAULT_PER_HOST
    tmp = Path(tempfile.mkdtemp(prefix="impact-bench-network-"))
    world = World(REAL_SNAPSHOT, date.today())
    sources_file = tmp / "usage_sources.yaml"
    sources_file.write_text(world.sources_yaml(), encoding="utf-8")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    try:
        with Internet(world, tmp, latency) as internet:
            # A clean environment: no inherited IMPACT_* settings, tokens or proxies; every source at its live default.
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith("IMPACT_")
                and k not in ("GITHUB_TOKEN", "GITLAB_TOKEN")
                and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
            }
            env.update(
                {
                    "HTTP_PROXY": internet.proxy,
                    "HTTPS_PROXY": internet.proxy,
                    "REQUESTS_CA_BUNDLE": str(internet.cert),
                    "CURL_CA_BUNDLE": str(internet.cert),
                    # The real names do not resolve offline: skip the address check.
                    "IMPACT_ALLOW_PRIVATE_NETWORK": "1",
                    "IMPACT_DUCKDB_PATH": str(tmp / "published" / "impact.duckdb"),
                    "IMPACT_EXPORT_DIR": str(tmp / "exports"),
                    "IMPACT_USAGE_SOURCES_PATH": str(sources_file),
                    "DAGSTER_HOME": str(home),
                    "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                }
            )
            if args.concurrency:
                env["IMPACT_FETCH_CONCURRENCY"] = str(args.concurrency)
            if args.per_host:
                env["IMPACT_FETCH_PER_HOST"] = str(args.per_host)
            print(
                f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
                f"load average {os.getloadavg()[0]:.1f}; "
                f"latency {latency * 1000:g} ms per request; fetch concurrency {concurrency} in total, "
                f"{per_host} per host"
            )
            print(
                f"world: {len(world.services)} services (real snapshot), {len(world.hosts)} hosts "
                "behind one TLS proxy on "
                f"{internet.proxy}, {len(world.repos)} forge repositories, "
                f"{len(world.editions)} observatoire editions, "
                f"{len(world.usage)} usage sources in the bench sources file; temp dir {tmp}",
                flush=True,
            )

            results = {}
            for mode in ("cold", "warm"):
                internet.log.reset()
                run = run_child(mode, env, Path(tmp) if args.profile else None)
                with internet.log.lock:
                    entries = list(internet.log.entries)
                    peak, peak_host, tls_errors = (
                        internet.log.max_total,
                        dict(internet.log.max_host),
                        dict(internet.log.tls_errors),
                    )
                figures = analyse(run, entries, latency, concurrency, per_host)
                figures.update(entries=entries, peak=peak, peak_host=peak_host, run=run)
                results[mode] = figures
                y0, y1 = run["years"]
                what = (
                    f"every year {y0}-{y1}, empty caches"
                    if mode == "cold"
                    else f"the nightly run: partition {y1}, same working area, sources unchanged"
                )
                print(
                    f"\n{mode} run ({what}): {figures['run_seconds']:.1f} s = fetching steps "
                    f"{figures['fetch_seconds']:.1f} s "
                    f"+ other steps {figures['other_steps']:.1f} s + outside steps {figures['outside_steps']:.1f} s; "
                    f"{len(entries)} requests"
                )
                print_table(figures)
                floors, parts = figures["step_floors"], figures["step_parts"]
                print(
                    "  fetching steps (seconds before the first request + with requests in flight + idle between "
                    "requests + after the last answer):"
                )
                for k, v in figures["fetch_steps"].items():
                    d = parts.get(k)
                    split = f" = {d['lead']:.1f} + {d['busy']:.1f} + {d['idle']:.1f} + {d['tail']:.1f}" if d else ""
                    print(f"    {k:<24} {v:6.1f} s{split}; floor {floors[k]:.1f} s")
                busiest = max(peak_host.items(), key=lambda kv: kv[1]) if peak_host else ("-", 0)
                print(
                    f"  requests in flight at the server: at most {peak} in total and {busiest[1]} on one "
                    f"host ({busiest[0]}) "
                    f"(limits {concurrency} / {per_host})"
                    + (f"; TLS handshakes refused: {tls_errors}" if tls_errors else "")
                )
                waits = run.get("host_waits") or {}
                print(
                    "  time lost to timeouts, per host (wait budget per run): "
                    + (
                        ", ".join(
                            f"{h} {w['waited_s']:g} s of {w['budget_s']:g} s, {w['not_sent']} not sent"
                            for h, w in sorted(waits.items(), key=lambda kv: -kv[1]["waited_s"])[:8]
                        )
                        or "none"
                    )
                )
                slow = sorted(
                    ((k, b - a) for k, (a, b) in run["steps"].items() if k not in FETCH_STEPS), key=lambda kv: -kv[1]
                )
                print(
                    f"  other steps ({len(slow)}), slowest first: " + ", ".join(f"{k} {s:.2f} s" for k, s in slow),
                    flush=True,
                )
    finally:
        if not (args.keep or args.profile):
            shutil.rmtree(tmp, ignore_errors=True)

    cold, warm = results["cold"], results["warm"]
    failed = [mode for mode, r in results.items() if not r["run"]["success"]]
    if failed:
        print(f"\ntargets not measured: the {' and '.join(failed)} run failed (see above)")
        return 1
    ratio1 = cold["fetch_seconds"] / cold["floor"] if cold["floor"] else float("inf")
    cold_urls = {e["url"] for e in cold["entries"] if e["method"] == "GET"}
    repeatable = [e for e in warm["entries"] if e["method"] == "GET" and e["url"] in cold_urls]
    answered_304 = [e for e in repeatable if e["status"] == 304]
    not_conditional = Counter(e["kind"] for e in repeatable if not e["conditional"])
    share_all = sum(e["status"] == 304 for e in warm["entries"]) / max(1, len(warm["entries"]))
    ratio2 = warm["run_seconds"] / cold["run_seconds"]
    print(
        f"\ntargets ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, latency {latency * 1000:g} ms, "
        f"concurrency {concurrency} / {per_host} per host):"
    )
    print(
        f"  1. cold fetch phase {cold['fetch_seconds']:.1f} s vs floor {cold['floor']:.1f} s = {ratio1:.2f}x "
        f"(target <= {TARGET_COLD:g}x): {'PASS' if ratio1 <= TARGET_COLD else 'FAIL'}"
    )
    print(
        f"     of which requests in flight {cold['network']:.1f} s ({cold['network'] / cold['floor']:.2f}x the floor); "
        f"the rest of those steps parses answers and writes DuckDB"
    )
    share = len(answered_304) / max(1, len(repeatable))
    print(
        f"  2. warm nightly run {warm['run_seconds']:.1f} s vs cold run {cold['run_seconds']:.1f} s = {ratio2:.0%} "
        f"(target <= {TARGET_WARM:.0%}): {'PASS' if ratio2 <= TARGET_WARM else 'FAIL'}"
    )
    print(
        f"     warm fetching steps {warm['fetch_seconds']:.1f} s "
        f"({warm['fetch_seconds'] / cold['fetch_seconds']:.0%} of cold), "
        f"other steps {warm['other_steps']:.1f} s "
        f"({warm['other_steps'] / max(cold['other_steps'], 1e-9):.0%} of cold), "
        f"outside steps {warm['outside_steps']:.1f} s"
    )
    print(
        f"     warm non-fetching steps {warm['other_steps']:.1f} s (target <= {TARGET_WARM_OTHER_STEPS:g} s): "
        f"{'PASS' if warm['other_steps'] <= TARGET_WARM_OTHER_STEPS else 'FAIL'}"
    )
    print(
        f"     304s: {len(answered_304)} of {len(repeatable)} repeatable requests (GETs also sent cold) = {share:.1%} "
        f"({'every one' if share == 1 else 'NOT every one'}); {share_all:.1%} of all "
        f"{len(warm['entries'])} warm requests"
        + (f"; sent without validators: {dict(not_conditional)}" if not_conditional else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
