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


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.?)", re.DOTALL)
_PLAIN_HTTP_RE = re.compile(r"https?://", re.IGNORECASE)  # starts with http(s):// — no blank, tab or control first
_DROPPED = str.maketrans("", "", "\t\n\r")


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
    if not match or match.group(2).isdigit():  # `example.org:8080/x` is a host and port, not a scheme
        return None
    scheme = match.group(1).lower()
    return None if scheme in ("http", "https") else scheme
