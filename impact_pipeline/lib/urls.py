"""URLs read from the crowd-edited registry: only public web addresses are ever fetched."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def public_http_url(value: object) -> str | None:
    """The value stripped when it is an http(s) URL with a host, else None (never a path, file: or javascript:)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or any(c in text for c in "\r\n\t "):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return text


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PLAIN_HTTP_RE = re.compile(r"https?://", re.IGNORECASE)  # starts with http(s):// — no blank, tab or control first
_DROPPED = str.maketrans("", "", "\t\n\r")
_PORT_RE = re.compile(r"([^/?#]+)(?:[/?#]|$)", re.DOTALL)
# Schemes that run or read something wherever they appear (the `startups` gate refuses them too).
ALWAYS_REFUSED = ("javascript", "vbscript", "data", "file", "ftp")
# The same refusal as a DuckDB regular expression over lower(link): the `startups` gate's rule, which the registry
# parse applies too, so that no published link can fail the gate (a refused link is NULL, with a finding).
REFUSED_LINK_RE = r"^[\s\x00-\x1f]*(" + "|".join(ALWAYS_REFUSED) + r")\s*:"


def refused_scheme(value: object) -> str | None:
    """The scheme of a link that must never be followed or published as a link (`javascript`, `file`, `ftp`…).

    None for http(s), for text without a scheme (`/stats`, `www.example.org`) and for `host:port`.
    Browsers ignore surrounding blanks and tabs/newlines inside a URL, so they are ignored here too.
    """
    if not isinstance(value, str):
        return None
    if _PLAIN_HTTP_RE.match(value):  # the common case, decided without rebuilding the string
        return None
    text = value.translate(_DROPPED).strip(" \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                                                                 "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c"
                                                                 "\x1d\x1e\x1f")
    match = _SCHEME_RE.match(text)
    if not match:
        return None
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return None
    # `example.org:8080/x` is a host and port, not a scheme: digits only, up to the end or a path. A script or
    # file scheme never is (`javascript:1;alert(1)`, `data:1,x`, `file:1` run or read in a browser).
    port = _PORT_RE.match(text, match.end(1) + 1)
    if port and scheme not in ALWAYS_REFUSED and all(c.isdigit() for c in port.group(1)):
        return None
    return scheme
