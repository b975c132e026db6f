"""Runtime configuration read from the environment (the configuration contract in the README).

Kept free of heavy imports: the code location loads this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # dagster stays out of this module's import time
    from impact_pipeline.lib.http_settings import HttpSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
# Every run carries the world it reads ("live", "offline" or "sample") as this tag, shown in the UI's run list.
MODE_TAG = "impact/mode"
DEFAULT_REGISTRY_URL = "https://beta.gouv.fr/api/v2.5/startups.json"
DEFAULT_CRITERIA_PATH = Path(__file__).resolve().parent / "config" / "criteria.yaml"
# Quality sources (criterion c); an empty string disables a source.
DEFAULT_OBSERVATOIRE_URL = "https://observatoire.numerique.gouv.fr"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_GITLAB_API_URL = "https://gitlab.com/api/v4"
DEFAULT_WEB_ARCHIVE_URL = "https://web.archive.org"
DEFAULT_OBSERVATOIRE_HOSTS = Path(__file__).resolve().parent / "config" / "observatoire_hosts.yaml"
SAMPLE_QUALITY_DIR = SAMPLE_DIR / "quality"
# Usage sources (criterion b): the reviewed sources file, declared figures and data.gouv.fr discovery.
DEFAULT_USAGE_SOURCES = Path(__file__).resolve().parent / "config" / "usage_sources.yaml"
DEFAULT_DECLARED_FIGURES = Path(__file__).resolve().parent / "config" / "declared_figures.csv"
DEFAULT_DATAGOUV_URL = (
    "https://www.data.gouv.fr/api/1/datasets/?schema=etalab/schema-impact-service-public-numerique&page_size=100"
)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None else value


def env_int(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment, `default` when unset or empty; a clear error otherwise."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {number}")
    return number


def offline_mode() -> bool:
    """True when every network source is off (`--offline`, IMPACT_OFFLINE=1): only local files are read."""
    return os.environ.get("IMPACT_OFFLINE", "").strip() == "1"


def project_path(value: str, resolve: bool = True) -> Path:
    """A configured output path; a relative one is read from the project folder, not the current folder, so a
    run started elsewhere (cron, another shell) publishes where the README says."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else PROJECT_ROOT / path
    return path.resolve() if resolve else Path(os.path.abspath(path))


def sample_mode() -> bool:
    """True when the bundled sample world replaces the configured sources (`--sample`)."""
    return os.environ.get("IMPACT_SAMPLE", "") == "1"


def _http_settings_from_env() -> HttpSettings:
    from impact_pipeline.lib.http_settings import HttpSettings

    return HttpSettings.from_env()


@dataclass(frozen=True)
class Settings:
    registry_url: str
    duckdb_path: Path
    export_dir: Path
    work_dir: Path
    criteria_path: Path
    sample: bool
    offline: bool = False
    # Quality sources: disabled unless given (tests build Settings directly and stay offline);
    # `from_env` fills in the live defaults.
    observatoire_url: str = ""
    observatoire_hosts_path: str = str(DEFAULT_OBSERVATOIRE_HOSTS)
    github_api_url: str = ""
    gitlab_api_url: str = ""
    gitlab_self_hosted: bool = False
    url_checks: bool = False
    url_checks_recorded: str = ""
    # Usage sources: none unless given (tests build Settings directly and stay offline).
    usage_sources_path: str = ""
    declared_figures_path: str = ""
    datagouv_url: str = ""
    usage_discovery: bool = False
    duckdb_memory_limit: str = "900MB"
    gate_chunk_rows: int = 100_000
    gate_reuse: bool = True
    # Dated registry documents (`YYYY-MM-DD/startups.json`) and the web archive (criterion c's past years).
    registry_history: str = ""
    web_archive_url: str = ""
    # IMPACT_EXECUTOR=multiprocess: Dagster's multi-or-in-process executor for UI and schedule runs (the scale-out
    # path); otherwise every step of a run executes in one process (the root definitions apply it).
    multiprocess_executor: bool = False
    # The HTTP layer's and fetches' limits and IMPACT_ALLOW_PRIVATE_NETWORK, read from the environment here, once
    # (also when tests build Settings directly), and given to every source resource.
    http: HttpSettings = field(default_factory=_http_settings_from_env)

    @property
    def mode(self) -> str:
        """The world a run reads: "sample" (fictional, bundled), "offline" (no network source) or "live"."""
        return "sample" if self.sample else ("offline" if self.offline else "live")

    @classmethod
    def from_env(cls) -> Settings:
        sample = sample_mode()
        paths = _paths(sample)
        offline = offline_mode() and not sample  # the sample world is offline already
        if offline and "://" in paths["registry_url"]:
            raise ValueError(
                f"--offline (IMPACT_OFFLINE=1) reads a local registry file, but IMPACT_REGISTRY_URL is "
                f"{paths['registry_url']}; set it to a path, e.g. "
                "IMPACT_REGISTRY_URL=../shared/data/betagouv/startups.json"
            )
        return cls(
            **paths,
            sample=sample,
            offline=offline,
            duckdb_memory_limit=_env("IMPACT_DUCKDB_MEMORY_LIMIT", "900MB").strip() or "900MB",
            gate_chunk_rows=env_int("IMPACT_GATE_CHUNK_ROWS", 100_000),
            gate_reuse=_env("IMPACT_GATE_REUSE", "1").strip().lower() not in ("0", "false", "no", "off"),
            registry_history=str(SAMPLE_DIR / "history") if sample else _env("IMPACT_REGISTRY_HISTORY", "").strip(),
            multiprocess_executor=_env("IMPACT_EXECUTOR", "") == "multiprocess",
            **{**_quality_settings(sample), **_usage_settings(sample), **(_OFFLINE_SOURCES if offline else {})},
        )


# `--offline`: every network source off at once (the seven variables of a mirrored run, in one flag); the
# reviewed declared figures stay, being a local file. Criteria needing the others become `unknown`, and the
# report, chart and CLI summary say so (evidence coverage).
_OFFLINE_SOURCES = {
    "observatoire_url": "",
    "github_api_url": "",
    "gitlab_api_url": "",
    "gitlab_self_hosted": False,
    "url_checks": False,
    "usage_sources_path": "",
    "datagouv_url": "",
    "usage_discovery": False,
    "web_archive_url": "",  # the registry history stays: a local folder
}


def _paths(sample: bool) -> dict:
    """Where the registry is read and the outputs are written; the sample world never overwrites the real published
    outputs unless asked to."""
    if sample:
        registry_url = str(SAMPLE_DIR / "startups.json")
        duckdb_default, export_default = "data/sample-output/impact.duckdb", "data/sample-output/exports"
    else:
        registry_url = _env("IMPACT_REGISTRY_URL", DEFAULT_REGISTRY_URL)
        duckdb_default, export_default = "data/impact.duckdb", "data/exports"
    # Absolute, not resolved, for the published path: it is a symlink into the publication store, and resolving
    # it would name one version's file instead of the path readers use.
    duckdb_path = project_path(_env("IMPACT_DUCKDB_PATH", duckdb_default), resolve=False)
    return {
        "registry_url": registry_url,
        "duckdb_path": duckdb_path,
        "export_dir": project_path(_env("IMPACT_EXPORT_DIR", export_default)),
        "work_dir": project_path(_env("IMPACT_WORK_DIR", str(duckdb_path.parent / ".work"))),
        "criteria_path": Path(_env("IMPACT_CRITERIA_PATH", str(DEFAULT_CRITERIA_PATH))).expanduser().resolve(),
    }


def _quality_settings(sample: bool) -> dict:
    """The quality sources: live by default; the sample world reads local mirrors and recorded answers only."""
    if sample:
        return {
            "observatoire_url": str(SAMPLE_QUALITY_DIR / "observatoire"),
            "observatoire_hosts_path": str(SAMPLE_QUALITY_DIR / "observatoire_hosts.yaml"),
            "github_api_url": str(SAMPLE_QUALITY_DIR / "github"),
            "gitlab_api_url": str(SAMPLE_QUALITY_DIR / "gitlab"),
            "gitlab_self_hosted": False,  # never reach a registry-declared host from the sample
            "url_checks": True,
            "url_checks_recorded": str(SAMPLE_QUALITY_DIR / "url_checks.json"),
            "web_archive_url": str(SAMPLE_QUALITY_DIR / "web_archive"),
        }
    return {
        "observatoire_url": _env("IMPACT_OBSERVATOIRE_URL", DEFAULT_OBSERVATOIRE_URL).strip(),
        "observatoire_hosts_path": _env("IMPACT_OBSERVATOIRE_HOSTS", str(DEFAULT_OBSERVATOIRE_HOSTS)),
        "github_api_url": _env("IMPACT_GITHUB_API_URL", DEFAULT_GITHUB_API_URL).strip(),
        "gitlab_api_url": _env("IMPACT_GITLAB_API_URL", DEFAULT_GITLAB_API_URL).strip(),
        "gitlab_self_hosted": _env("IMPACT_GITLAB_SELF_HOSTED", "1").strip() == "1",
        "url_checks": _env("IMPACT_URL_CHECKS", "1").strip() == "1",
        "url_checks_recorded": "",
        "web_archive_url": _env("IMPACT_WEB_ARCHIVE_URL", DEFAULT_WEB_ARCHIVE_URL).strip(),
    }


def _usage_settings(sample: bool) -> dict:
    """The usage sources: the reviewed files and data.gouv.fr by default; the sample world reads local fixtures only."""
    if sample:
        return {
            "usage_sources_path": str(SAMPLE_DIR / "usage_sources.yaml"),
            "declared_figures_path": str(SAMPLE_DIR / "usage" / "declared_figures.csv"),
            "datagouv_url": "",
            "usage_discovery": True,  # reads the mirrored stats pages listed in the sample sources file only
        }
    return {
        "usage_sources_path": _env("IMPACT_USAGE_SOURCES_PATH", str(DEFAULT_USAGE_SOURCES)).strip(),
        "declared_figures_path": _env("IMPACT_DECLARED_FIGURES_PATH", str(DEFAULT_DECLARED_FIGURES)).strip(),
        "datagouv_url": _env("IMPACT_DATAGOUV_URL", DEFAULT_DATAGOUV_URL).strip(),
        "usage_discovery": _env("IMPACT_USAGE_DISCOVERY", "1").strip() == "1",
    }
