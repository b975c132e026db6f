"""Impact datasets (`etalab/schema-impact-service-public-numerique`, v0.5.0): CSV rows → observations.

Each row is validated against the schema's fields (required values, booleans, dates, enums, numbers);
a malformed row (a field missing or invalid, or more fields than the header: an unquoted separator) is reported
and left out, the rest is kept. Targets (`est_cible=true`) are kept as
targets and stocks (`est_periode=false`) as stocks, flagged, so that no rule can take them for a
yearly measure. Discovery lists the data.gouv.fr datasets declaring the schema.

Sources file entry (`type: impact_csv`): `url`, optional `service_name` (rows of that service only) and `indicators`
(what an indicator counts, over the keywords). Its rows' source is `impact_dataset`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import field_validator

from impact_pipeline.defs.usage.adapters.base import Adapter, FileOptions, Read, ReadContext, SourceSpec
from impact_pipeline.defs.usage.observations import (
    KNOWN_UNITS,
    Observation,
    Parsed,
    SourceError,
    normalise_name,
    parse_day,
    parse_number,
)
from impact_pipeline.lib.fetching import FetchRequest
from impact_pipeline.lib.http import is_local_path

SCHEMA_NAME = "etalab/schema-impact-service-public-numerique"
REQUIRED = (
    "administration_rattachement",
    "nom_service_public_numerique",
    "indicateur",
    "valeur",
    "unite_mesure",
    "est_cible",
    "frequence_monitoring",
    "date",
    "est_periode",
    "est_automatise",
    "source_collecte",
)
FREQUENCIES = ("quotidienne", "hebdomadaire", "mensuelle", "annuelle", "trimestrielle", "semestrielle", "autre")
TYPES = ("usage", "impact")  # type_indicateur, added in v0.5.0 (absent from older files: read as unknown)
TRUE, FALSE = ("true", "1", "vrai", "oui"), ("false", "0", "faux", "non")

# How an indicator's words say what it counts (when unite_mesure is a count). Reviewed per service with
# `indicators:` in the sources file, which always wins.
_USERS = re.compile(
    r"utilisat|usager|personne|beneficiaire|visiteurs? uniques?|foyer|menage|patient|citoyen|"
    r"particulier|eleve|etudiant|demandeur|candidat|agent",
    re.I,
)
_VISITS = re.compile(r"visite|session|pages? vues|connexion", re.I)
_USES = re.compile(
    r"demande|dossier|demarche|telecharg|consultation|utilisation|recherche|simulation|requete|"
    r"appel|attestation|declaration|trajet|transaction|bordereau|formulaire|document|teleservice|"
    r"procedure|reservation|signalement|envoi|message|inscription",
    re.I,
)
_COUNT_UNITS = ("unite", "unites", "nombre", "nb", "", "utilisateurs", "usagers", "personnes", "visites")


def _bool(value: str) -> bool | None:
    v = (value or "").strip().lower()
    return True if v in TRUE else False if v in FALSE else None


def classify(indicator: str, unite_mesure: str, overrides: dict[str, str] | None = None) -> str:
    """The normalised unit of an impact indicator: users, visits, uses, count, percent or other."""
    if overrides and indicator in overrides:
        return overrides[indicator]
    unit = normalise_name(unite_mesure)
    if unite_mesure.strip() in ("%",) or unit in ("pourcentage", "pourcent", "taux"):
        return "percent"
    if unit not in _COUNT_UNITS:
        return "other"
    words = normalise_name(indicator) + " " + unit
    if _USERS.search(words):
        return "users"
    if _VISITS.search(words):
        return "visits"
    if _USES.search(words):
        return "uses"
    return "count"


class ImpactCsvOptions(FileOptions):
    type: Literal["impact_csv"] = "impact_csv"
    service_name: str | None = None  # keep only the rows of this nom_service_public_numerique
    indicators: dict[str, str] | None = None  # indicator → unit, over the keywords

    @field_validator("indicators")
    @classmethod
    def _known_units(cls, indicators: dict[str, str] | None) -> dict[str, str] | None:
        bad = {k: v for k, v in (indicators or {}).items() if v not in KNOWN_UNITS}
        if bad:
            raise ValueError(f"indicators map to unknown units {bad} (use {', '.join(KNOWN_UNITS)})")
        return indicators


def reads(spec: SourceSpec, context: ReadContext) -> list[Read]:
    """One read of the CSV; every kept row belongs to the service."""
    options: ImpactCsvOptions = spec.options
    ref, evidence = options.named()

    def parse(content: bytes, fetched_at: str) -> Parsed:
        parsed, _ = parse_impact_csv(
            content,
            startup_id=spec.startup_id,
            source_ref=ref,
            evidence_url=evidence,
            fetched_at=fetched_at,
            service_name=options.service_name,
            indicators=options.indicators,
        )
        return parsed

    request = FetchRequest(options.url, "impact_dataset", key=spec.startup_id)
    return [Read(request, is_local_path(options.url), ref, parse)]


def parse_impact_csv(
    content: bytes,
    *,
    startup_id: str | None,
    source_ref: str,
    evidence_url: str | None,
    fetched_at: str,
    service_name: str | None = None,
    indicators: dict[str, str] | None = None,
) -> tuple[Parsed, dict[str, list[Observation]]]:
    """Parse one impact CSV. With `startup_id`, every kept row belongs to it (optionally only the rows of
    `service_name`); without, rows are grouped by `nom_service_public_numerique` (discovered files)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SourceError(f"not an impact dataset: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    parsed = Parsed()
    by_service: dict[str, list[Observation]] = {}
    wanted = normalise_name(service_name) if service_name else None
    for raw in reader:
        line = reader.line_num  # the file's line (a quoted field may span several)
        extra = raw.get(None)  # DictReader's restkey: fields beyond the header
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()) and not extra:
            continue
        if extra:
            # An unquoted separator shifts every later field, the service's name included: no value can be trusted.
            parsed.reject(
                f"line {line}: {len(header) + len(extra)} fields where the header has {len(header)} "
                f"(an unquoted {delimiter!r} in a value?)"
            )
            continue
        if wanted and normalise_name(row["nom_service_public_numerique"]) != wanted:
            continue
        problems = [f"`{c}` is empty" for c in REQUIRED if not row.get(c)]
        value, _ = parse_number(row.get("valeur"))
        if row.get("valeur") and value is None:
            problems.append(f"valeur {row['valeur']!r} is not a number")
        elif value is not None and value < 0:
            problems.append(f"valeur {row['valeur']!r} is negative")
        flags = {c: _bool(row.get(c, "")) for c in ("est_cible", "est_periode", "est_automatise")}
        problems += [f"{c} {row[c]!r} is not a boolean" for c, b in flags.items() if b is None and row.get(c)]
        day = parse_day(row.get("date"))
        if row.get("date") and day is None:
            problems.append(f"date {row['date']!r} is not YYYY-MM-DD")
        start = parse_day(row.get("date_debut")) if row.get("date_debut") else None
        if row.get("date_debut") and start is None:
            problems.append(f"date_debut {row['date_debut']!r} is not YYYY-MM-DD")
        if row.get("frequence_monitoring") and row["frequence_monitoring"].lower() not in FREQUENCIES:
            problems.append(
                f"frequence_monitoring {row['frequence_monitoring']!r} is not one of {', '.join(FREQUENCIES)}"
            )
        kind = (row.get("type_indicateur") or "").lower() or None
        if kind is not None and kind not in TYPES:
            problems.append(f"type_indicateur {row['type_indicateur']!r} is not usage or impact")
        if flags["est_periode"] and not problems and start is None:
            problems.append("est_periode is true but date_debut is empty")
        if start and day and start > day:
            problems.append(f"date_debut {start} is after date {day}")
        if problems:
            parsed.reject(f"line {line}: " + "; ".join(problems))
            continue
        is_stock = not flags["est_periode"]
        obs = Observation(
            startup_id=startup_id or "",
            source="impact_dataset",
            source_ref=source_ref,
            indicator=row["indicateur"],
            type_indicateur=kind,
            value=float(value),
            unit=classify(row["indicateur"], row["unite_mesure"], indicators),
            period_start=None if is_stock else start,
            period_end=day,
            is_target=bool(flags["est_cible"]),
            is_stock=is_stock,
            evidence_url=evidence_url,
            fetched_at=fetched_at,
        )
        parsed.observations.append(obs)
        by_service.setdefault(row["nom_service_public_numerique"], []).append(obs)
    return parsed, by_service


# --- data.gouv.fr discovery ------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetResource:
    dataset_id: str
    dataset_title: str
    page: str | None  # the dataset's public page: the evidence a person opens
    resource_id: str
    url: str


def parse_datasets_page(document: Any) -> tuple[list[DatasetResource], str | None]:
    """One page of `GET /api/1/datasets/?schema=<name>`: `{"data": [dataset…], "next_page": url|null, …}`.

    A dataset's resources carry `schema: {"name", "version"}`; resources declaring the impact schema are
    kept, and CSV resources of a dataset where none declares it (the dataset was found by schema anyway).
    """
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise SourceError("data.gouv.fr answer has no `data` list")
    out: list[DatasetResource] = []
    for dataset in document["data"]:
        if not isinstance(dataset, dict) or dataset.get("archived") or dataset.get("deleted"):
            continue
        resources = [r for r in dataset.get("resources") or [] if isinstance(r, dict) and isinstance(r.get("url"), str)]
        declared = [
            r for r in resources if isinstance(r.get("schema"), dict) and r["schema"].get("name") == SCHEMA_NAME
        ]
        chosen = declared or [
            r
            for r in resources
            if str(r.get("format") or "").lower() == "csv" or urlsplit(r["url"]).path.lower().endswith(".csv")
        ]
        for r in chosen:
            out.append(
                DatasetResource(
                    dataset_id=str(dataset.get("id") or ""),
                    dataset_title=str(dataset.get("title") or ""),
                    page=dataset.get("page") if isinstance(dataset.get("page"), str) else None,
                    resource_id=str(r.get("id") or ""),
                    url=r["url"].strip(),
                )
            )
    next_page = document.get("next_page")
    return out, next_page if isinstance(next_page, str) and next_page else None


def proposal_keys(options: ImpactCsvOptions) -> list[tuple[str, str, str]]:
    """The discovered file this entry is (discovery names a file it finds by its URL's last segment)."""
    return [("impact_csv", options.url, options.url.rsplit("/", 1)[-1].lower())]


ADAPTER = Adapter(source="impact_dataset", options=ImpactCsvOptions, reads=reads, proposal_keys=proposal_keys)
