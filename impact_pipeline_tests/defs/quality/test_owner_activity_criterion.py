"""Criterion (c)'s "product evolving" on an owner's address (organisation, user, group): a pass marked weak."""

from __future__ import annotations

from impact_pipeline_tests.defs.quality.test_criterion import judge, sub, world

AT = "2026-02-01 10:00:00"


def test_commits_over_an_owners_repositories_pass_product_evolving_on_a_weak_signal(warehouse_factory):
    startups = [
        {
            "startup_id": s,
            "repository": url,
            "stats_url": "https://x.fr/stats",
            "contact": "a@b.fr",
            "accessibility_status": "totalement conforme",
        }
        for s, url in (("org", "https://github.com/betagouv"), ("repo", "https://github.com/o/r"))
    ]
    activity = [
        {
            "startup_id": "org",
            "year": 2025,
            "repo": "github.com/betagouv",
            "commits_in_year": 34,
            "public": True,
            "scope": "owner",
            "fetched_at": AT,
        },
        {
            "startup_id": "repo",
            "year": 2025,
            "repo": "github.com/o/r",
            "commits_in_year": 34,
            "public": True,
            "scope": "repository",
            "fetched_at": AT,
        },
    ]
    rows = judge(world(warehouse_factory, startups, registry_at=AT, activity=activity), [(2025, "org"), (2025, "repo")])
    single = sub(rows, (2025, "repo"), "product_evolving")
    assert (single["verdict"], single["weak"]) == ("pass", False)
    owner = sub(rows, (2025, "org"), "product_evolving")
    assert (owner["verdict"], owner["weak"]) == ("pass", True)
    assert owner["reason"] == (
        "34 commits in 2025 over the public repositories of github.com/betagouv "
        "(weak signal: the owner may host other products)"
    )
    # With every other required sub-criterion passing, (c) passes and says which one rests on a weak signal.
    checks = [
        {"startup_id": s, "url": "https://x.fr/stats", "final_url": "https://x.fr/stats", "checked_at": AT}
        for s in ("org", "repo")
    ]
    rows = judge(world(warehouse_factory, startups, registry_at=AT, activity=activity, checks=checks), [(2025, "org")])
    assert rows[(2025, "org")].verdict == "pass"
    assert "product evolving" in rows[(2025, "org")].reason and "on a weak signal" in rows[(2025, "org")].reason
