"""Discovery: recognise usage sources on a service's stats page (embedded Metabase public questions or
dashboards, Matomo site ids in links or tracker snippets). Results are proposals, never used as sources
until a person confirms them in the reviewed sources file."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

_METABASE = re.compile(r"""(?P<url>(?:https?:)?//[^\s"'<>]+?|)/public/(?P<kind>question|dashboard)/(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})""")
_MATOMO_LINK = re.compile(r"""(?P<url>(?:https?:)?//[^\s"'<>]+?/(?:index|matomo|piwik)\.php\?[^\s"'<>]*)""", re.I)
_TRACKER_BASE = re.compile(r"""var\s+u\s*=\s*["'](?P<base>(?:https?:)?//[^"']+)["']""")
_TRACKER_SITE = re.compile(r"""setSiteId['"]\s*,\s*['"]?(?P<id>\d+)""")


@dataclass(frozen=True)
class Proposal:
    kind: str  # metabase_question, metabase_dashboard, matomo
    instance: str  # base URL of the instance
    identifier: str  # uuid or site id


def _absolute(url: str, page_url: str) -> str:
    return urljoin(page_url, url)


def find_sources(page: str, page_url: str) -> list[Proposal]:
    """Every Metabase public card/dashboard and Matomo site referenced by the page, deduplicated, in order."""
    text = html.unescape(page)
    found: dict[Proposal, None] = {}
    for m in _METABASE.finditer(text):
        prefix = m["url"] or ""
        base = _absolute(prefix or "/", page_url) if prefix else _absolute("/", page_url)
        base = base.rstrip("/")
        found[Proposal(f"metabase_{m['kind']}", base, m["uuid"].lower())] = None
    for m in _MATOMO_LINK.finditer(text):
        url = _absolute(m["url"], page_url)
        parts = urlsplit(url)
        query = {k.lower(): v for k, v in parse_qs(parts.query).items()}
        site = (query.get("idsite") or [""])[0]
        if site.isdigit():
            base = f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}"
            found[Proposal("matomo", base.rstrip("/"), site)] = None
    base_match, site_match = _TRACKER_BASE.search(text), _TRACKER_SITE.search(text)
    if base_match and site_match:
        base = _absolute(base_match["base"], page_url).rstrip("/")
        found[Proposal("matomo", base, site_match["id"])] = None
    return list(found)
