"""Registry links: only public http(s) URLs are ever used; other schemes are refused."""

from __future__ import annotations

import pytest

from impact_pipeline.lib.urls import refused_scheme, web_address


@pytest.mark.parametrize(
    "value, scheme",
    [
        ("javascript:alert(1)", "javascript"),
        ("  JavaScript:alert(1)", "javascript"),
        ("java\tscript:alert(1)", "javascript"),
        ("\x01javascript:alert(1)", "javascript"),
        ("file:///etc/passwd", "file"),
        ("ftp://ftp.example.org/x", "ftp"),
        ("data:text/html,<script>", "data"),
        ("https://stats.example.org", None),
        ("HTTP://example.org", None),
        ("/stats", None),
        ("www.example.org", None),
        ("example.org:8080/stats", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_refused_scheme(value, scheme):
    assert refused_scheme(value) == scheme


@pytest.mark.parametrize(
    "value, url",
    [
        (" https://stats.example.org/x?y=1 ", "https://stats.example.org/x?y=1"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("ftp://example.org", None),
        ("/stats", None),
        ("https://", None),
        ("https:&#x2F;&#x2F;example.org", None),
        ("https://exa mple.org", None),
        (None, None),
    ],
)
def test_public_http_url(value, url):
    assert web_address(value) == url


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:18080\\@1.1.1.1/x",
        "http://1.1.1.1\\.example.org/",
        "https://a@b@example.org/",
        "http://%31%32%37.0.0.1/",
        "https://exa\tmple.org/",
        "https://example.org/a\x00b",
    ],
)
def test_urls_that_parsers_read_differently_are_refused(value):
    # urlsplit and urllib3 (the client) disagree on these hosts: no interpretation is safe.
    assert web_address(value) is None


EVIDENCE_CASES = [
    # value, public evidence URL?, with IMPACT_ALLOW_PRIVATE_NETWORK=1?
    ("https://stats.example.org/2025", True, True),
    ("http://8.8.8.8/stats", True, True),
    ("http://127.0.0.1:8080/stats", False, True),
    ("http://localhost/stats", False, True),
    ("http://stats.localhost./x", False, True),
    ("http://10.1.2.3/", False, True),
    ("http://192.168.0.1/", False, True),
    ("http://169.254.169.254/latest", False, True),
    ("http://[::1]/", False, True),
    ("http://[::ffff:127.0.0.1]/", False, True),
    ("http://2130706433/", False, True),  # 127.0.0.1 in decimal, as the resolver reads it
    ("http://0x7f.1/", False, True),
    ("http://127.0.0.1:18080\\@1.1.1.1/x", False, False),
    ("javascript:alert(1)", False, False),
    ("/stats", False, False),
    (None, False, False),
]


@pytest.mark.parametrize("value, public, mirrored", EVIDENCE_CASES)
def test_public_evidence_url(value, public, mirrored):
    from impact_pipeline.lib.urls import public_evidence_url

    assert (public_evidence_url(value, allow_private_network=False) is not None) is public
    assert (public_evidence_url(value, allow_private_network=True) is not None) is mirrored


@pytest.mark.parametrize("allow", [False, True])
def test_the_gates_sql_is_the_same_rule(allow):
    # The gates and the rules cannot disagree: the SQL calls the Python rule itself.
    import duckdb

    from impact_pipeline.lib.urls import public_evidence_url_sql, register_duckdb_functions

    con = duckdb.connect()
    register_duckdb_functions(con)
    register_duckdb_functions(con)  # idempotent: every gate registers it on its connection
    values = [v for v, _, _ in EVIDENCE_CASES]
    got = con.execute(
        f"SELECT {public_evidence_url_sql('v', allow_private_network=allow)} FROM unnest(?::VARCHAR[]) t(v)", [values]
    ).fetchall()
    assert [g for (g,) in got] == [(m if allow else p) for _, p, m in EVIDENCE_CASES]


@pytest.mark.parametrize(
    "value",
    [
        "https://stats.example.org/x",
        "http://127.0.0.1:18080\\@1.1.1.1/x",
        "https://a@b@example.org/",
        "javascript:alert(1)",
        "https://",
        " https://x.fr",
    ],
)
def test_the_report_links_what_the_rules_call_a_web_address(value):
    from impact_pipeline.defs.reporting.report import is_web_url, link

    assert is_web_url(value) is (value == value.strip() and web_address(value) is not None)
    assert str(link(value)).startswith("<a ") is is_web_url(value)
