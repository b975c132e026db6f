"""What every domain's assets share: column schemas from the contract, small previews, the selection rule of
multi-assets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from impact_pipeline import contract
from impact_pipeline.defs.partitions import OWNERS


def table_asset(table: contract.Table, group: str) -> dict[str, Any]:
    """What every asset stored as a contract table declares: its group, kinds, owners and `table_metadata`."""
    return {"group_name": group, "kinds": {"python", "duckdb"}, "owners": OWNERS, "metadata": table_metadata(table)}


def table_metadata(table: contract.Table) -> dict[str, Any]:
    """Definition metadata of an asset stored as a contract table: its column schema and table name."""
    return {"dagster/column_schema": contract.table_schema(table), "dagster/table_name": table.name}


def preview(rows: Any, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """The first `n` rows (a DataFrame or a list of dicts) as a markdown table for the UI."""
    if not len(rows):
        return dg.MetadataValue.md("_empty_")
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return dg.MetadataValue.md(frame[columns].head(n).to_markdown(index=False))


def selected_together(context: dg.AssetExecutionContext, names: Sequence[str], why: str) -> bool:
    """Whether a multi-asset's run selects the assets `names`, which one piece of work writes together (`why`):
    all of them (True) or none (False); some of them only fails the step, saying so."""
    selected = [dg.AssetKey(name) in context.selected_asset_keys for name in names]
    if any(selected) and not all(selected):
        listed = f"{', '.join(names[:-1])} and {names[-1]}"
        raise dg.Failure(f"{listed} {why}: materialize them together")
    return all(selected)
