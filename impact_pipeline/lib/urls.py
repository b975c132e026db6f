"""URLs read from the crowd-edited registry: only public web addresses are ever fetched or published as evidence.

One parser decides what a URL means: urllib3's `parse_url`, the one `requests` and urllib3 use to connect. Where
parsers disagree (a `\\` browsers and urllib3 read as the start of the path while `urlsplit` keeps it in the host,
blanks, control characters, a second `@`, a percent-encoded host), the URL is refused rather than interpreted.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Characters on which URL parsers disagree: `\` (a path separator for browsers and urllib3, part of the host for
# urlsplit), blanks and control characters (dropped by browsers, kept or refused by clients).
_AMBIGUOUS_RE = re.compile(r"[\x00-\x20\x7f\\]")
# Host names that always mean this machine, without asking DNS.
_LOCAL_NAMES_RE = re.compile(r"(^|\.)(localhost|localhost\.localdomain)\.?$", re.IGNORECASE)


def private_network_allowed() -> bool:
    """IMPACT_ALLOW_PRIVATE_NETWORK=1: private, loopback and link-local addresses are reachable and count as public
    (tests, local mirrors). Read here only, so that the HTTP layer, the rules and the gates agree."""
    return os.environ.get("IMPACT_ALLOW_PRIVATE_NETWORK", "").strip() == "1"


def parse_http_url(value: str):
    """The urllib3 `Url` of an http(s) URL with a host, as the client will connect to it; ValueError says why not."""
    text = value.strip()
    ambiguous = _AMBIGUOUS_RE.search(text)
    if ambiguous:
        raise ValueError(f"character {ambiguous.group(0)!r} is not allowed in a URL (URL parsers read it differently)")
    try:
        url = parse_url(text)
    except LocationParseError:
        raise ValueError("invalid URL") from None
    scheme = (url.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"scheme '{scheme or 'none'}' is not allowed (only http and https)")
    if not url.host:
        raise ValueError("URL has no host")
    authority = text.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if "//" in text else ""
    if authority.count("@") > 1 or "%" in authority.rsplit("@", 1)[-1]:
        # `a@b@c` and `%31.0.0.1` are hosts different parsers read differently.
        raise ValueError("ambiguous host (several '@' or a percent-encoded host)")
    return url


def web_address(value: object) -> str | None:
    """The value stripped when it is a web address: an http(s) URL with a host (`parse_http_url`), else None; never
    a path, `file:`, `javascript:`, nor a URL that parsers read differently. What may be fetched or linked; whether it
    is *public* (may be published as evidence) is the one rule `public_evidence_url`."""
    if not isinstance(value, str):
        return None
    return _web_url(value)


# The common case, which every parser reads the same way: an ASCII host name, no port, userinfo or `\\`. Decided
# without parsing (parse_url costs ~20 µs); anything else goes through `parse_http_url`. Same verdicts either way.
_PLAIN_RE = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)(?:[/?#][!-\[\]-~]*)?")


@functools.lru_cache(maxsize=65536)
def _web_url(value: str) -> str | None:
    text = value.strip()
    if _PLAIN_RE.fullmatch(text):
        return text
    try:
        parse_http_url(text)
    except ValueError:
        return None
    return text


def is_forbidden_address(address: IPAddress) -> bool:
    """True for every address that is not a public internet address (private, loopback, link-local, reserved…)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
            return is_forbidden_address(address.ipv4_mapped)
        # 6to4 and Teredo addresses embed an IPv4 address that may be internal.
        embedded = [address.sixtofour] + list(address.teredo or ())
        if any(inner is not None and is_forbidden_address(inner) for inner in embedded):
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        # Also catches shared space such as 100.64.0.0/10 (some clouds' metadata services).
        or not address.is_global
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: an IP literal in any form the resolver accepts (`[::1]`, `0x7f.1`,
    `2130706433`), else None."""
    host = host.strip("[]").split("%", 1)[0].rstrip(".")
    if not host or not (host[0].isdigit() or ":" in host):  # a name: every IP literal starts so
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads the shorthand forms getaddrinfo (hence the client) accepts: hex, octal, decimal.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def public_evidence_url(value: object, *, allow_private_network: bool) -> str | None:
    """THE rule for a public evidence URL, used by the rules, the gates (`register_duckdb_functions`) and the report.

    A web address (`web_address`) whose host is not a local name (`localhost`) nor a private, loopback or
    link-local address literal; with `allow_private_network` (IMPACT_ALLOW_PRIVATE_NETWORK=1, local mirrors) those
    count as public too. Names are not resolved: the rule reads the text, so the same text always gets the same
    verdict (the HTTP layer checks the connected address when fetching).
    """
    url = web_address(value)
    if url is None or allow_private_network:
        return url
    return url if _public_host(url) else None


@functools.lru_cache(maxsize=65536)
def _public_host(url: str) -> bool:
    plain = _PLAIN_RE.fullmatch(url)
    host = plain.group(1) if plain else parse_url(url).host or ""
    if _LOCAL_NAMES_RE.search(host):
        return False
    address = literal_address(host)
    return address is None or not is_forbidden_address(address)


def public_evidence_url_sql(expr: str, *, allow_private_network: bool) -> str:
    """The SQL of "`expr` is a public evidence URL" (`public_evidence_url`, through the DuckDB function that
    `register_duckdb_functions` adds to the connection)."""
    return f"coalesce(public_evidence_url({expr}, {'TRUE' if allow_private_network else 'FALSE'}), FALSE)"


def register_duckdb_functions(con, called_by: str | None = None) -> None:
    """Add `public_evidence_url(url, allow_private_network) -> BOOLEAN` to a DuckDB connection (once); with
    `called_by`, only if that SQL calls it (registering costs about 20 ms, paid by every gate otherwise)."""
    if called_by is not None and "public_evidence_url(" not in called_by:
        return
    exists = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'public_evidence_url'"
    ).fetchall()[0][0]
    if exists:
        return

    def is_public(url: str | None, allow_private_network: bool | None) -> bool | None:
        return (
            None
            if url is None
            else public_evidence_url(url, allow_private_network=bool(allow_private_network)) is not None
        )

    con.create_function(
        "public_evidence_url", is_public, ["VARCHAR", "BOOLEAN"], "BOOLEAN", null_handling="special", side_effects=False
    )


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
    text = value.translate(_DROPPED).strip(
        " \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c"
        "\x1d\x1e\x1f"
    )
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
