"""Discovery reads stats pages (public http(s) only) and proposes the sources it recognises."""

from __future__ import annotations

from impact_pipeline.defs.usage.discovery import Proposal, find_sources
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline_tests.support.http_server import Route

PAGE = """<html><body>
<iframe src="https://mb.example.org/metabase/public/question/0B7D6C1E-3f2a-4e55-8c9d-1a2b3c4d5e6f"></iframe>
<iframe src="/public/dashboard/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d#bordered=false"></iframe>
<a href="https://stats.example.org/index.php?module=Widgetize&amp;action=iframe&amp;idSite=11&amp;period=month">visites</a>
<script>var u="//stats.other.example.org/"; _paq.push(['setTrackerUrl', u+'matomo.php']); _paq.push(['setSiteId', '42']);</script>
</body></html>"""


def test_find_sources_in_a_page():
    assert find_sources(PAGE, "https://svc.example.org/stats") == [
        Proposal("metabase_question", "https://mb.example.org/metabase", "0b7d6c1e-3f2a-4e55-8c9d-1a2b3c4d5e6f"),
        Proposal("metabase_dashboard", "https://svc.example.org", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
        Proposal("matomo", "https://stats.example.org", "11"),
        Proposal("matomo", "https://stats.other.example.org", "42"),
    ]


def test_discover_reads_public_pages_only_and_marks_confirmed_sources(tmp_path, local_server):
    local_server.add("/stats", Route(body=PAGE.replace("/public/dashboard", local_server.url("/public/dashboard")),
                                     headers={"Content-Type": "text/html"}))
    sources = tmp_path / "usage_sources.yaml"
    sources.write_text(
        "services:\n  svc:\n    - type: matomo\n      base_url: https://stats.example.org\n      site_id: 11\n", encoding="utf-8")
    pages = [("svc", local_server.url("/stats")), ("local", "/etc/passwd"), ("js", "javascript:alert(1)"), ("missing", local_server.url("/nope"))]
    usage = UsageSources(sources_path=str(sources), discovery=True, allow_private_network=True)
    rows, problems, stats = usage.discover(pages)
    assert [(r["kind"], r["identifier"], r["confirmed"]) for r in rows] == [
        ("metabase_question", "0b7d6c1e-3f2a-4e55-8c9d-1a2b3c4d5e6f", False),
        ("metabase_dashboard", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", False),
        ("matomo", "11", True),
        ("matomo", "42", False),
    ]
    assert {r["stats_url"] for r in rows} == {local_server.url("/stats")}
    assert problems[:2] == ["local: stats_url '/etc/passwd' is not an http(s) URL (not fetched)",
                            "js: stats_url 'javascript:alert(1)' is not an http(s) URL (not fetched)"]
    assert "HTTP 404" in problems[2]
    assert stats["stats_page"]["requests"] == 2


def test_discover_refuses_private_addresses_by_default(local_server):
    local_server.add("/stats", Route(body=PAGE))
    rows, problems, _ = UsageSources(discovery=True).discover([("svc", local_server.url("/stats"))])
    assert rows == [] and "refusing to connect to private/loopback/link-local address" in problems[0]
    assert local_server.requests == []
