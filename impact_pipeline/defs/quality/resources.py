"""The quality sources (observatoire, GitHub, GitLab, stats page checks) as one typed resource."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from impact_pipeline.lib.fetching import Fetcher, FetchLimits, ResponseCache
from impact_pipeline.lib.http import HttpClient
from impact_pipeline.lib.http_settings import FetchingResource, HttpSettings, http_settings_field


class QualitySources(FetchingResource):
    """Where criterion (c)'s evidence is read from; an empty URL disables a source (its sub-criteria become unknown)."""

    observatoire_url: str = Field(
        default="", description="Observatoire base URL, or a local mirror folder (IMPACT_OBSERVATOIRE_URL)."
    )
    observatoire_hosts_path: str = Field(
        default="", description="Override file host → startup id (IMPACT_OBSERVATOIRE_HOSTS)."
    )
    github_api_url: str = Field(
        default="", description="GitHub REST API, or a local mirror folder (IMPACT_GITHUB_API_URL)."
    )
    github_token: str | None = Field(
        default=None, description="GITHUB_TOKEN (optional; 5,000 requests/hour instead of 60)."
    )
    gitlab_api_url: str = Field(
        default="", description="gitlab.com API v4, or a local mirror folder (IMPACT_GITLAB_API_URL)."
    )
    gitlab_token: str | None = Field(
        default=None, description="GITLAB_TOKEN (optional; sent to the configured GitLab API only)."
    )
    gitlab_self_hosted: bool = Field(
        default=True, description="Ask self-hosted GitLab instances (https://<host>/api/v4) for their repositories."
    )
    url_checks: bool = Field(
        default=False, description="Check that declared stats pages and repositories answer (IMPACT_URL_CHECKS)."
    )
    url_checks_recorded: str = Field(
        default="", description="Offline: a JSON file of recorded answers used instead of the network (sample world)."
    )
    web_archive_url: str = Field(
        default="",
        description="Wayback-compatible web archive (CDX API) base URL, or a local mirror folder "
        "(IMPACT_WEB_ARCHIVE_URL); empty disables it.",
    )
    http: HttpSettings = http_settings_field()
    check_timeout_seconds: float = Field(
        default=20.0, description="Total time allowed to one stats page / repository check."
    )

    def client(self, **overrides) -> HttpClient:
        return HttpClient(self.http.policy(**overrides))

    def fetcher(self, client: HttpClient, work_dir: str, *, limits: FetchLimits | None = None, **kwargs) -> Fetcher:
        """A Fetcher whose validators and bodies live under `<work_dir>/http_cache/quality`.

        Its requests count against the process's fetch limits (`http.concurrency` / `http.per_host`)
        together with every other quality fetcher running at the same time, unless `limits` says otherwise.
        """
        return Fetcher(
            client, cache=ResponseCache(self.cache_dir(work_dir)), limits=limits or self.http.limits(), **kwargs
        )

    @staticmethod
    def cache_dir(work_dir: str) -> Path:
        return Path(work_dir) / "http_cache" / "quality"

    def check_policy_overrides(self) -> dict:
        from impact_pipeline.lib.http import page_read_overrides

        # `run_checks` asks again the pages that answered 429 or 5xx, never one that timed out.
        return page_read_overrides(self.check_timeout_seconds)
