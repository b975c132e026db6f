"""Run the real Dagster job in-process against temp folders, as the CLI and the UI do."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from impact_pipeline.definitions import build_definitions
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH, Settings

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_SNAPSHOT = SHARED_DATA / "betagouv" / "startups.json"
OFFICIAL_LIST = SHARED_DATA / "betagouv" / "official_national_impact.csv"
# A token in the registry URL that must never be written anywhere (logs, run metadata, outputs): the sample world's
# shared 2025 run (conftest `sample_2025`) fetches with it, guarantees/test_secrets.py searches for it.
CANARY = "CANARY-7f3e9b1c0d2a-do-not-leak"


@dataclass
class PipelinePaths:
    root: Path

    @property
    def duckdb_path(self) -> Path:
        return self.root / "published" / "impact.duckdb"

    @property
    def export_dir(self) -> Path:
        return self.root / "exports"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def settings(self, registry_url: str, criteria_path: Path = DEFAULT_CRITERIA_PATH) -> Settings:
        return Settings(
            registry_url=registry_url,
            duckdb_path=self.duckdb_path,
            export_dir=self.export_dir,
            work_dir=self.work_dir,
            criteria_path=criteria_path,
            http=HttpSettings.from_env(allow_private_network=True),
            sample=False,
        )


def with_sample_sources(settings: Settings) -> Settings:
    """`settings` with the sample world's offline usage (b) and quality (c) sources, as `--sample` runs it."""
    import dataclasses

    from impact_pipeline.settings import SAMPLE_DIR, SAMPLE_QUALITY_DIR

    return dataclasses.replace(
        settings,
        usage_sources_path=str(SAMPLE_DIR / "usage_sources.yaml"),
        declared_figures_path=str(SAMPLE_DIR / "usage" / "declared_figures.csv"),
        usage_discovery=True,
        observatoire_url=str(SAMPLE_QUALITY_DIR / "observatoire"),
        observatoire_hosts_path=str(SAMPLE_QUALITY_DIR / "observatoire_hosts.yaml"),
        github_api_url=str(SAMPLE_QUALITY_DIR / "github"),
        gitlab_api_url=str(SAMPLE_QUALITY_DIR / "gitlab"),
        gitlab_self_hosted=False,
        url_checks=True,
        url_checks_recorded=str(SAMPLE_QUALITY_DIR / "url_checks.json"),
        registry_history=str(SAMPLE_DIR / "history"),
        web_archive_url=str(SAMPLE_QUALITY_DIR / "web_archive"),
    )


@dataclass
class PublishedRun:
    """A successful run shared by several tests (a session fixture): read its folders, never write them.

    A test that runs the pipeline again from this state works on `copy_to(tmp_path)`: the settings of a copy
    point into it, so its runs read and write the copy only (the registry tests have always worked this way).
    """

    paths: PipelinePaths
    result: Any  # Dagster's ExecuteInProcessResult of the run
    instance: Any = None  # the DagsterInstance that recorded it, when not an ephemeral one
    home: Path | None = None  # that instance's folder (its SQLite storage)

    def copy_to(self, target: Path) -> PipelinePaths:
        # symlinks=True: the published paths are relative links into the publication store, kept inside the copy.
        shutil.copytree(self.paths.root, target, symlinks=True)
        return PipelinePaths(target)


def digest(paths: PipelinePaths) -> dict[str, str]:
    """Hash of every published file a reader can open: the DuckDB file and the export folder, through its links."""
    files = [paths.duckdb_path]
    for folder, _, names in os.walk(paths.export_dir, followlinks=True):
        files += sorted(Path(folder) / name for name in names if (Path(folder) / name).is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run_years(settings: Settings, first: int, last: int, instance: dg.DagsterInstance | None = None):
    """Execute the whole job for the year range in one run; returns Dagster's execution result."""
    job = build_definitions(settings).resolve_job_def("impact_job")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
        raise_on_error=False,
    )


def failure_text(result) -> str:
    """Every step failure's messages (with causes), to assert on what a user would read."""
    parts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error is not None:
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)


def skip_without_shared_data():
    import pytest

    if not REAL_SNAPSHOT.exists():
        pytest.skip(f"real registry snapshot not found at {REAL_SNAPSHOT} (../shared/data is absent)")
