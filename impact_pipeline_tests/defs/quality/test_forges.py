"""GitHub and GitLab adapters against local servers: paging, 304s, archived, rate limits, offline mirror."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from impact_pipeline.defs.quality import forges
from impact_pipeline.defs.quality.forges import ForgeApi, collect_activity, parse_repository
from impact_pipeline.lib.fetching import Fetcher, ResponseCache
from impact_pipeline.lib.http import HttpClient, HttpPolicy
from impact_pipeline.settings import SAMPLE_QUALITY_DIR
from impact_pipeline_tests.support.http_server import Route

NOW = datetime(2025, 11, 1, tzinfo=UTC)
TOKEN = "ghp_test-token-never-stored"


@pytest.mark.parametrize(
    "url, forge, path",
    [
        ("https://github.com/betagouv/monstagedeseconde/", "github", "betagouv/monstagedeseconde"),
        ("https://github.com/org/repo.git", "github", "org/repo"),
        ("https://github.com/org/repo/tree/main/app", "github", "org/repo"),
        ("https://gitlab.com/incubateur/startups/agents/-/tree/main", "gitlab", "incubateur/startups/agents"),
        ("https://gitlab.mim-libre.fr/dimail/api", "gitlab", "dimail/api"),
        ("https://framagit.org/drone/app", "gitlab", "drone/app"),
        ("https://github.com/betagouv", "github", "betagouv"),
        ("https://github.com/MTES-MCT/secheresse-front; ", "github", "MTES-MCT/secheresse-front"),
        ("https://github.com/org/repo.git).", "github", "org/repo"),
        ("https://gitlab.com/group/proj,", "gitlab", "group/proj"),
        ("https://pad.numerique.gouv.fr/s/abc", None, "s/abc"),
    ],
)
def test_repository_urls_name_their_forge(url, forge, path):
    ref = parse_repository(url)
    assert (ref.forge, ref.path) == (forge, path)


def test_non_web_repositories_are_not_parsed():
    assert parse_repository("git@github.com:org/repo.git") is None and parse_repository("") is None


def _etagged(body, tag, headers=None):
    def handler(request):
        if request.headers.get("If-None-Match") == tag:
            return Route(status=304, headers={"ETag": tag})
        return Route(body=body, headers={"ETag": tag, **(headers or {})})

    return Route(handler=handler)


def _fetcher_factory(client, cache_dir, concurrency=2):
    return lambda guard: Fetcher(
        client,
        cache=ResponseCache(cache_dir),
        concurrency=concurrency,
        should_skip=guard.should_skip,
        on_outcome=guard.observe,
    )


def _client():
    return HttpClient(HttpPolicy(allow_private_network=True, retries=0, total_timeout=10))


def test_github_and_gitlab_activity_with_paging_archived_missing_and_a_conditional_second_run(local_server, tmp_path):
    s = local_server
    gh = "/gh/repos/org"
    s.add(
        f"{gh}/active",
        _etagged(
            {
                "pushed_at": "2025-10-01T10:00:00Z",
                "archived": False,
                "private": False,
                "created_at": "2019-01-01T00:00:00Z",
            },
            '"a"',
        ),
    )

    def commits(request):
        since = request.query["since"][0]
        tag = f'"c-{since[:4]}"'
        if request.headers.get("If-None-Match") == tag:
            return Route(status=304, headers={"ETag": tag})
        if since.startswith("2025"):  # 57 commits, one per page: the last page's number is the count
            commits = s.url(gh + "/active/commits")
            link = f'<{commits}?per_page=1&page=2>; rel="next", <{commits}?per_page=1&page=57>; rel="last"'
            return Route(body=[{"sha": "x"}], headers={"ETag": tag, "Link": link})
        return Route(body=[], headers={"ETag": tag})

    s.add(f"{gh}/active/commits", Route(handler=commits))
    s.add(f"{gh}/old", _etagged({"pushed_at": "2020-05-01T00:00:00Z", "archived": True, "private": False}, '"o"'))
    s.add(f"{gh}/missing", Route(status=404, body={"message": "Not Found"}))
    gl = "/gl/api/v4/projects/group%2Fsub%2Fproj"
    s.add(
        gl,
        _etagged(
            {"last_activity_at": "2025-09-09T09:09:09.000+02:00", "archived": False, "visibility": "public"}, '"g"'
        ),
    )
    s.add(f"{gl}/repository/commits", _etagged([{"id": "1"}], '"gc"', {"X-Total": "12"}))
    big = "/gl/api/v4/projects/group%2Fbig"
    s.add(
        big, _etagged({"last_activity_at": "2025-10-10T00:00:00Z", "archived": False, "visibility": "private"}, '"b"')
    )
    s.add(f"{big}/repository/commits", _etagged([{"id": "1"}], '"bc"', {"X-Next-Page": "2"}))  # no X-Total

    repos = [
        (sid, parse_repository(url))
        for sid, url in [
            ("active", "https://github.com/org/active"),
            ("old", "https://github.com/org/old"),
            ("missing", "https://github.com/org/missing"),
            ("gl", "https://gitlab.com/group/sub/proj"),
            ("big", "https://gitlab.com/group/big"),
            ("elsewhere", "https://git.example.org/team/app"),
        ]
    ]
    apis = {"github": ForgeApi("github", s.url("/gh"), TOKEN), "gitlab": ForgeApi("gitlab", s.url("/gl/api/v4"))}
    cache = tmp_path / "cache"
    client = _client()

    def run():
        return collect_activity(
            repos,
            [2024, 2025],
            apis,
            _fetcher_factory(client, cache),
            now=NOW,
        )

    rows, summary = run()
    by = {(r["startup_id"], r["year"]): r for r in rows}
    assert by[("active", 2025)]["commits_in_year"] == 57 and by[("active", 2025)]["status"] == "ok"
    assert by[("active", 2024)]["commits_in_year"] == 0
    assert by[("active", 2025)]["last_push"] == "2025-10-01T10:00:00" and by[("active", 2025)]["public"] is True
    # archived, last push before the years asked: zero without asking for commits
    assert by[("old", 2025)]["archived"] is True and by[("old", 2025)]["commits_in_year"] == 0
    assert "no push since 2020-05-01" in by[("old", 2025)]["reason"]
    assert by[("missing", 2025)]["status"] == "not_found" and by[("missing", 2025)]["commits_in_year"] is None
    assert by[("gl", 2025)]["commits_in_year"] == 12 and by[("gl", 2025)]["last_push"] == "2025-09-09T07:09:09"
    assert by[("big", 2025)]["commits_is_lower_bound"] is True and by[("big", 2025)]["public"] is False
    assert by[("elsewhere", 2025)]["status"] == "unsupported" and by[("elsewhere", 2025)]["forge"] == "other"
    github_requests = [r for r in s.requests if r.path.startswith("/gh")]
    assert {r.headers.get("Authorization") for r in github_requests} == {f"Bearer {TOKEN}"}
    assert not any(r.headers.get("Authorization") for r in s.requests if r.path.startswith("/gl"))
    # commits asked only where a push can have happened: active 2024 and 2025, not old
    assert sorted(r.query["since"][0][:4] for r in s.requests if r.path == f"{gh}/active/commits") == ["2024", "2025"]
    assert not [r for r in s.requests if r.path == f"{gh}/old/commits"]

    first = len(s.requests)
    rows2, summary2 = run()
    second = s.requests[first:]
    # every request that had an ETag is conditional and answered 304; counts survive without paging headers
    conditional = [r for r in second if r.path != f"{gh}/missing"]
    assert conditional and all(r.headers.get("If-None-Match") for r in conditional)
    # unchanged repositories (304): their commit counts are reused, not asked again
    assert not [r for r in second if r.path.endswith("/commits")]
    assert summary2["requests"]["github"]["not_modified"] == 2 and summary2["requests"]["gitlab"]["not_modified"] == 2
    by2 = {(r["startup_id"], r["year"]): r for r in rows2}
    assert by2[("active", 2025)]["commits_in_year"] == 57 and by2[("gl", 2025)]["commits_in_year"] == 12
    assert by2[("big", 2025)]["status"] == "not_modified"
    # the token is in no stored file
    assert not any(TOKEN in p.read_text(errors="ignore") for p in cache.rglob("*") if p.is_file())
    client.close()


def test_rate_limit_mid_run_stops_calls_keeps_fetched_and_marks_the_rest(local_server, tmp_path):
    s = local_server
    for name in ("a1", "a2"):
        s.add(
            f"/gh/repos/org/{name}",
            Route(
                body={"pushed_at": "2025-10-01T00:00:00Z", "archived": False, "private": False},
                headers={"X-RateLimit-Remaining": "10"},
            ),
        )
    s.add(
        "/gh/repos/org/limited",
        Route(
            status=403,
            body={"message": "API rate limit exceeded"},
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1764000000"},
        ),
    )
    for name in ("b1", "b2"):
        s.add(f"/gh/repos/org/{name}", Route(body={"pushed_at": "2025-10-01T00:00:00Z"}))
    repos = [(n, parse_repository(f"https://github.com/org/{n}")) for n in ("a1", "a2", "limited", "b1", "b2")]
    apis = {"github": ForgeApi("github", s.url("/gh")), "gitlab": ForgeApi("gitlab", "")}
    client = _client()
    rows, summary = collect_activity(
        repos, [2025], apis, _fetcher_factory(client, tmp_path / "c", concurrency=1), now=NOW
    )
    client.close()
    by = {r["startup_id"]: r for r in rows}
    asked = [r.path for r in s.requests]
    assert asked == ["/gh/repos/org/a1", "/gh/repos/org/a2", "/gh/repos/org/limited"]  # nothing after the 403
    assert by["a1"]["last_push"] == "2025-10-01T00:00:00"  # kept what was fetched
    for name in ("limited", "b1", "b2", "a1", "a2"):
        assert by[name]["status"] == "rate_limited", name
        assert by[name]["commits_in_year"] is None  # unknown, never a silent zero
    assert "rate limit is exhausted" in by["b1"]["reason"] and "2025-11-24" in by["b1"]["reason"]
    assert "github" in summary["rate_limited"]


def test_disabled_forge_marks_rows_disabled(tmp_path):
    repos = [("a", parse_repository("https://github.com/org/a"))]
    apis = {"github": ForgeApi("github", ""), "gitlab": ForgeApi("gitlab", "")}
    client = _client()
    rows, _ = collect_activity(repos, [2025], apis, _fetcher_factory(client, tmp_path), now=NOW)
    client.close()
    assert rows[0]["status"] == "disabled" and rows[0]["commits_in_year"] is None


def test_offline_mirror_serves_the_sample_and_refuses_path_tricks(tmp_path):
    apis = {
        "github": ForgeApi("github", str(SAMPLE_QUALITY_DIR / "github")),
        "gitlab": ForgeApi("gitlab", str(SAMPLE_QUALITY_DIR / "gitlab")),
    }
    repos = [
        ("b", parse_repository("https://github.com/exemple-org/boussole-demo")),
        ("r", parse_repository("https://gitlab.example.org/demo/relais")),
        ("t", parse_repository("https://github.com/exemple-org/..%2F..%2Fetc")),
    ]
    client = _client()
    rows, _ = collect_activity(
        repos,
        [2025, 2026],
        apis,
        _fetcher_factory(client, tmp_path),
        gitlab_self_hosted=False,
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )
    client.close()
    by = {(r["startup_id"], r["year"]): r for r in rows}
    commits = json.loads((SAMPLE_QUALITY_DIR / "github/repos/exemple-org/boussole-demo/commits.json").read_text())
    expected = sum(1 for c in commits if c["commit"]["committer"]["date"].startswith("2026"))
    assert by[("b", 2026)]["commits_in_year"] == expected and by[("b", 2026)]["status"] == "ok"
    assert by[("r", 2026)]["commits_in_year"] == 1 and by[("r", 2026)]["forge"] == "gitlab"
    assert by[("t", 2026)]["status"] in ("not_found", "error", "unsupported")
    assert forges.safe_segment("..") is None and forges.safe_segment("a/b") is None


def test_gitlab_is_asked_beside_github_not_after_it(local_server, tmp_path):
    import threading
    import time

    from impact_pipeline_tests.support.http_server import LocalServer

    started: dict[str, list[float]] = {"github": [], "gitlab": []}
    lock = threading.Lock()

    def answer(forge, body):
        def handler(_request):
            with lock:
                started[forge].append(time.monotonic())
            return Route(body=body, delay=0.3)

        return Route(handler=handler)

    for name in ("a", "b", "c", "d"):
        local_server.add(f"/gh/repos/org/{name}", answer("github", {"pushed_at": "2020-01-01T00:00:00Z"}))
    with LocalServer() as gitlab:  # another host, as gitlab.com is
        gitlab.add("/api/v4/projects/group%2Fproj", answer("gitlab", {"last_activity_at": "2020-01-01T00:00:00Z"}))
        repos = [(n, parse_repository(f"https://github.com/org/{n}")) for n in ("a", "b", "c", "d")]
        repos.append(("g", parse_repository("https://gitlab.com/group/proj")))
        apis = {
            "github": ForgeApi("github", local_server.url("/gh")),
            "gitlab": ForgeApi("gitlab", gitlab.url("/api/v4")),
        }
        client = _client()
        rows, summary = collect_activity(
            repos, [2025], apis, _fetcher_factory(client, tmp_path, concurrency=4), now=NOW
        )
        client.close()
    assert {r["status"] for r in rows} == {"ok"} and summary["requests"]["gitlab"]["requests"] == 1
    # GitHub's 4 repositories take two rounds of 0.3 s at 2 per host; GitLab's request starts during the first.
    assert min(started["gitlab"]) < min(started["github"]) + 0.3


def test_a_repository_pushed_to_since_the_last_run_has_its_commits_asked_again(local_server, tmp_path):
    s = local_server
    state = {"pushed": "2025-10-01T00:00:00Z", "commits": 5}

    def repo(request):
        tag = f'"r-{state["pushed"]}"'
        if request.headers.get("If-None-Match") == tag:
            return Route(status=304, headers={"ETag": tag})
        return Route(body={"pushed_at": state["pushed"], "created_at": "2024-01-01T00:00:00Z"}, headers={"ETag": tag})

    def commits(request):
        tag = f'"c-{request.query["since"][0][:4]}-{state["commits"]}"'
        if request.headers.get("If-None-Match") == tag:
            return Route(status=304, headers={"ETag": tag})
        link = f'<{s.url("/gh/x")}?page=2>; rel="next", <{s.url("/gh/x")}?page={state["commits"]}>; rel="last"'
        return Route(body=[{"sha": "x"}], headers={"ETag": tag, "Link": link})

    s.add("/gh/repos/org/app", Route(handler=repo))
    s.add("/gh/repos/org/app/commits", Route(handler=commits))
    repos = [("app", parse_repository("https://github.com/org/app"))]
    apis = {"github": ForgeApi("github", s.url("/gh")), "gitlab": ForgeApi("gitlab", "")}
    cache, client = tmp_path / "cache", _client()

    def run():
        before = len(s.requests)
        rows, _ = collect_activity(repos, [2025], apis, _fetcher_factory(client, cache), now=NOW)
        return rows[0], [r.path for r in s.requests[before:]]

    first, asked = run()
    assert first["commits_in_year"] == 5 and asked == ["/gh/repos/org/app", "/gh/repos/org/app/commits"]
    unchanged, asked = run()
    assert unchanged["commits_in_year"] == 5 and asked == ["/gh/repos/org/app"]  # 304: the count is reused
    state.update(pushed="2025-10-20T00:00:00Z", commits=9)  # a push: new metadata, new count
    pushed, asked = run()
    assert pushed["commits_in_year"] == 9 and asked == ["/gh/repos/org/app", "/gh/repos/org/app/commits"]
    again, asked = run()
    assert again["commits_in_year"] == 9 and asked == ["/gh/repos/org/app"]
    # A push that leaves the year's commits as they were: the commits answer is a 304, whose count comes from the
    # stored answer's paging header (a 304 does not repeat `Link`); then it holds under the new repository answer.
    state.update(pushed="2025-10-25T00:00:00Z")
    replayed, asked = run()
    assert replayed["commits_in_year"] == 9 and replayed["status"] == "ok"
    assert asked == ["/gh/repos/org/app", "/gh/repos/org/app/commits"] and s.requests[-1].headers.get("If-None-Match")
    assert run()[1] == ["/gh/repos/org/app"]
    client.close()


def _repo_doc(full_name, pushed, created, **kw):
    """A repository as GitHub's `/users/{owner}/repos` and `/repos/{o}/{r}` list it."""
    return {
        "id": abs(hash(full_name)) % 10**8,
        "name": full_name.split("/")[1],
        "full_name": full_name,
        "private": False,
        "visibility": "public",
        "fork": False,
        "archived": False,
        "pushed_at": pushed,
        "created_at": created,
        "updated_at": pushed,
        "default_branch": "main",
        **kw,
    }


def _commits_with_count(s, path, per_year):
    """`/commits?since&until&per_page=1`: the Link header's last page is the count of the year."""

    def handler(request):
        n = per_year.get(int(request.query["since"][0][:4]), 0)
        if not n:
            return Route(body=[])
        link = f'<{s.url(path)}?per_page=1&page=2>; rel="next", <{s.url(path)}?per_page=1&page={n}>; rel="last"'
        return Route(body=[{"sha": "x"}], headers={"Link": link} if n > 1 else {})

    return Route(handler=handler)


def test_owner_addresses_empty_repositories_creation_years_and_urls_as_people_write_them(local_server, tmp_path):
    s = local_server
    # A GitHub organisation: three public repositories (one a fork), listed most recently pushed first.
    s.add(
        "/gh/users/betagouv/repos",
        Route(
            body=[
                _repo_doc("betagouv/api", "2025-09-01T08:00:00Z", "2021-03-01T00:00:00Z"),
                _repo_doc("betagouv/front", "2024-05-01T08:00:00Z", "2022-01-10T00:00:00Z"),
                _repo_doc("betagouv/upstream-fork", "2025-10-01T08:00:00Z", "2020-01-01T00:00:00Z", fork=True),
            ]
        ),
    )
    s.add(
        "/gh/repos/betagouv/api/commits", _commits_with_count(s, "/gh/repos/betagouv/api/commits", {2024: 30, 2025: 12})
    )
    s.add("/gh/repos/betagouv/front/commits", _commits_with_count(s, "/gh/repos/betagouv/front/commits", {2024: 4}))
    # An empty repository: GitHub answers 409 on its commits.
    s.add(
        "/gh/repos/org/empty",
        Route(body=_repo_doc("org/empty", "2024-02-01T00:00:00Z", "2024-02-01T00:00:00Z", size=0)),
    )
    s.add(
        "/gh/repos/org/empty/commits",
        Route(
            status=409,
            body={"message": "Git Repository is empty.", "documentation_url": "https://docs.github.com/rest"},
        ),
    )
    # Created in 2024, declared with a trailing `;` as in the registry.
    s.add(
        "/gh/repos/MTES-MCT/secheresse-front",
        Route(body=_repo_doc("MTES-MCT/secheresse-front", "2025-06-01T00:00:00Z", "2024-04-02T09:00:00Z")),
    )
    s.add(
        "/gh/repos/MTES-MCT/secheresse-front/commits",
        _commits_with_count(s, "/gh/repos/MTES-MCT/secheresse-front/commits", {2024: 80, 2025: 20}),
    )
    # A forge answering 200 with an HTML page (a proxy's maintenance page) for one repository.
    s.add(
        "/gh/repos/org/behind-proxy",
        Route(body="<html><body>Maintenance</body></html>", headers={"Content-Type": "text/html"}),
    )
    # A self-hosted GitLab group (and a subgroup declared like a project: the project answers 404).
    gl = "/selfhosted/api/v4"
    projects = [
        {
            "id": 11,
            "path_with_namespace": "dimail/api",
            "visibility": "public",
            "archived": False,
            "last_activity_at": "2025-03-03T10:00:00.000+01:00",
            "created_at": "2023-01-05T10:00:00.000+01:00",
        }
    ]
    s.add(f"{gl}/groups/dimail/projects", Route(body=projects))
    s.add(
        f"{gl}/projects/dimail%2Fapi/repository/commits",
        Route(
            handler=lambda r: Route(
                body=[{"id": "a"}], headers={"X-Total": "25" if r.query["since"][0].startswith("2025") else "0"}
            )
        ),
    )
    s.add(f"{gl}/projects/dimail%2Fteam", Route(status=404, body={"message": "404 Project Not Found"}))
    s.add(f"{gl}/groups/dimail%2Fteam/projects", Route(body=projects))

    declared = [
        ("org", "https://github.com/betagouv"),
        ("empty", "https://github.com/org/empty.git"),
        ("seche", "https://github.com/MTES-MCT/secheresse-front; "),
        ("proxy", "https://github.com/org/behind-proxy"),
        ("group", "https://gitlab.numerique.example/dimail/"),
        ("sub", "https://gitlab.numerique.example/dimail/team"),
    ]
    repos = [(sid, parse_repository(url)) for sid, url in declared]
    apis = {"github": ForgeApi("github", s.url("/gh")), "gitlab": ForgeApi("gitlab", s.url("/gl/api/v4"))}
    client = _client()
    rows, _ = collect_activity(
        repos,
        [2023, 2024, 2025],
        apis,
        _fetcher_factory(client, tmp_path / "c"),
        now=NOW,
        gitlab_instances={"gitlab.numerique.example": s.url(gl)},
    )
    client.close()
    by = {(r["startup_id"], r["year"]): r for r in rows}

    org = by[("org", 2024)]
    assert (org["forge"], org["repo"], org["scope"], org["status"], org["commits_in_year"]) == (
        "github",
        "github.com/betagouv",
        "owner",
        "ok",
        34,
    )  # the fork is not counted
    assert org["reason"].startswith("weak signal, an owner's address: 34 commits in 2024 over 2 of the 2 public")
    assert by[("org", 2025)]["commits_in_year"] == 12  # front was last pushed in 2024: not asked for 2025
    assert (by[("org", 2025)]["last_push"], by[("org", 2025)]["public"]) == ("2025-09-01T08:00:00", True)
    assert not [r for r in s.requests if r.path.endswith("upstream-fork/commits")]

    empty = by[("empty", 2024)]
    assert (empty["status"], empty["commits_in_year"], empty["scope"]) == ("ok", 0, "repository")
    assert "empty" in empty["reason"]

    seche = by[("seche", 2023)]
    assert (seche["repo"], seche["commits_in_year"], seche["status"]) == (
        "github.com/MTES-MCT/secheresse-front",
        0,
        "ok",
    )
    assert seche["reason"] == "the repository was created on 2024-04-02, after 2023"
    assert by[("seche", 2024)]["commits_in_year"] == 80

    proxy = by[("proxy", 2024)]
    assert (proxy["status"], proxy["commits_in_year"]) == ("error", None)
    assert "not JSON" in proxy["reason"]

    for sid in ("group", "sub"):
        row = by[(sid, 2025)]
        assert (row["forge"], row["scope"], row["commits_in_year"], row["status"]) == ("gitlab", "owner", 25, "ok")
        assert by[(sid, 2024)]["commits_in_year"] == 0
    assert by[("group", 2025)]["api_url"].startswith(s.url(gl) + "/groups/dimail/projects")


def test_a_non_json_commits_answer_is_that_repositorys_error_and_the_others_are_kept(local_server, tmp_path):
    s = local_server
    s.add("/gh/repos/o/good", Route(body=_repo_doc("o/good", "2025-05-01T00:00:00Z", "2020-01-01T00:00:00Z")))
    s.add("/gh/repos/o/good/commits", _commits_with_count(s, "/gh/repos/o/good/commits", {2025: 9}))
    s.add("/gh/repos/o/bad", Route(body=_repo_doc("o/bad", "2025-05-01T00:00:00Z", "2020-01-01T00:00:00Z")))
    s.add("/gh/repos/o/bad/commits", Route(body=b"\x89PNG not json", headers={"Content-Type": "application/json"}))
    repos = [(sid, parse_repository(f"https://github.com/o/{sid}")) for sid in ("good", "bad")]
    client = _client()
    rows, _ = collect_activity(
        repos,
        [2025],
        {"github": ForgeApi("github", s.url("/gh")), "gitlab": ForgeApi("gitlab", "")},
        _fetcher_factory(client, tmp_path / "c"),
        now=NOW,
    )
    client.close()
    by = {r["startup_id"]: r for r in rows}
    assert (by["good"]["status"], by["good"]["commits_in_year"]) == ("ok", 9)
    assert (by["bad"]["status"], by["bad"]["commits_in_year"], by["bad"]["reason"]) == (
        "error",
        None,
        "the commits answer is not JSON",
    )
