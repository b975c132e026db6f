"""Registry links: only public http(s) URLs are ever used; other schemes are refused."""

from __future__ import annotations

import pytest

from impact_pipeline.lib.urls import public_http_url, refused_scheme


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
    assert public_http_url(value) == url
