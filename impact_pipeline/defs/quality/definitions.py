"""The quality domain (criterion (c)): observatoire, repository activity, URL checks and web archive captures, their
gates and the sources."""

import os

import dagster as dg

from impact_pipeline.defs.gates.asset_checks import gates_of
from impact_pipeline.defs.quality import assets, gates
from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    quality_assets = dg.load_assets_from_modules([assets])
    return dg.Definitions(
        assets=quality_assets,
        asset_checks=gates_of(quality_assets, gates.SUITES),
        resources={"quality": _quality_sources(settings)},
    )


def _quality_sources(settings: Settings) -> QualitySources:
    """Criterion (c)'s sources; tokens only through dg.EnvVar, and only when set (the sample never sends them)."""

    def token(name: str):
        return dg.EnvVar(name) if os.environ.get(name) and not settings.sample else None

    return QualitySources(
        observatoire_url=settings.observatoire_url,
        observatoire_hosts_path=settings.observatoire_hosts_path,
        github_api_url=settings.github_api_url,
        github_token=token("GITHUB_TOKEN"),
        gitlab_api_url=settings.gitlab_api_url,
        gitlab_token=token("GITLAB_TOKEN"),
        gitlab_self_hosted=settings.gitlab_self_hosted,
        url_checks=settings.url_checks,
        url_checks_recorded=settings.url_checks_recorded,
        web_archive_url=settings.web_archive_url,
        http=settings.http,
    )
