"""Runtime configuration read from the environment (the configuration contract in the README).

Kept free of heavy imports: the code location loads this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
DEFAULT_REGISTRY_URL = "https://beta.gouv.fr/api/v2.5/startups.json"
DEFAULT_CRITERIA_PATH = Path(__file__).resolve().parent / "config" / "criteria.yaml"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None else value


def sample_mode() -> bool:
    """True when the bundled sample world replaces the configured sources (`--sample`)."""
    return os.environ.get("IMPACT_SAMPLE", "") == "1"


@dataclass(frozen=True)
class Settings:
    registry_url: str
    duckdb_path: Path
    export_dir: Path
    work_dir: Path
    criteria_path: Path
    allow_private_network: bool
    sample: bool

    @classmethod
    def from_env(cls) -> "Settings":
        sample = sample_mode()
        if sample:
            # The sample world never overwrites the real published outputs unless asked to.
            registry_default = str(SAMPLE_DIR / "startups.json")
            duckdb_default = "data/sample-output/impact.duckdb"
            export_default = "data/sample-output/exports"
        else:
            registry_default = DEFAULT_REGISTRY_URL
            duckdb_default = "data/impact.duckdb"
            export_default = "data/exports"
        registry_url = registry_default if sample else _env("IMPACT_REGISTRY_URL", registry_default)
        duckdb_path = Path(_env("IMPACT_DUCKDB_PATH", duckdb_default)).expanduser().resolve()
        export_dir = Path(_env("IMPACT_EXPORT_DIR", export_default)).expanduser().resolve()
        work_default = duckdb_path.parent / ".work"
        work_dir = Path(_env("IMPACT_WORK_DIR", str(work_default))).expanduser().resolve()
        criteria_path = Path(_env("IMPACT_CRITERIA_PATH", str(DEFAULT_CRITERIA_PATH))).expanduser().resolve()
        return cls(
            registry_url=registry_url,
            duckdb_path=duckdb_path,
            export_dir=export_dir,
            work_dir=work_dir,
            criteria_path=criteria_path,
            allow_private_network=os.environ.get("IMPACT_ALLOW_PRIVATE_NETWORK", "") == "1",
            sample=sample,
        )
