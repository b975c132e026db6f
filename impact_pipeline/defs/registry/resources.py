"""The startups registry as a typed resource over the shared HTTP layer."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field

from impact_pipeline.lib.http import FetchError, FetchResult, HttpClient
from impact_pipeline.lib.http_settings import HttpSettings, http_settings_field
from impact_pipeline.lib.resources import StrictResource


class RegistrySource(StrictResource):
    """Where the beta.gouv.fr startups registry is read from (JSON:API v2.5)."""

    url: str = Field(
        description="Registry URL (http/https) or a local path to an offline mirror (IMPACT_REGISTRY_URL)."
    )
    history: str = Field(
        default="",
        description="Folder of dated registry documents, `YYYY-MM-DD/startups.json` "
        "(IMPACT_REGISTRY_HISTORY); empty: none.",
    )
    http: HttpSettings = http_settings_field()

    def fetch(self, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Fetch the document, undecoded (DuckDB reads it); raises FetchError naming the URL and the problem.

        With the validators of the stored document the request is conditional: a `304 Not Modified` comes back
        as a result with `not_modified=True` and no body. A local path is always read whole.
        """
        client = HttpClient(self.http.policy())
        try:
            return client.fetch(self.url, allow_local_path=True, etag=etag, last_modified=last_modified)
        finally:
            client.close()

    def history_documents(self) -> list[tuple[str, Path]]:
        """(date, path) of every `YYYY-MM-DD/startups.json` of the history folder, oldest first."""
        folder = Path(self.history.strip()).expanduser() if self.history.strip() else None
        if folder is None:
            return []
        if not folder.is_dir():
            raise FileNotFoundError(f"IMPACT_REGISTRY_HISTORY: {folder} is not a folder")
        found = []
        for child in sorted(folder.iterdir()):
            if not (child / "startups.json").is_file():
                continue
            try:
                day = date.fromisoformat(child.name)
            except ValueError:
                continue  # not a dated folder (README, SOURCE.md…)
            found.append((day.isoformat(), child / "startups.json"))
        return found


__all__ = ["RegistrySource", "FetchError"]
