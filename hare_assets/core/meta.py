"""Shared Dagster glue: metadata for tables and the conservation check."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Mapping

import dagster as dg
import pyarrow as pa

from hare_assets.core.markdown import markdown_table

CONSERVATION = "rows_conserved"


def _schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


def table_metadata(table: pa.Table, preview_columns: list[str] | None = None, n: int = 5) -> dict:
    """Row count, column schema and a markdown preview of the first rows."""
    cols = preview_columns or table.column_names
    return {
        "dagster/row_count": table.num_rows,
        "dagster/column_schema": _schema(table.schema),
        "preview": dg.MetadataValue.md(markdown_table(table.select(cols).slice(0, n).to_pylist(), cols)),
    }


def column_lineage(upstream: str, columns: list[str]) -> dg.TableColumnLineage:
    """Each column comes from the same-named column of `upstream` (shown in the UI's column lineage)."""
    return dg.TableColumnLineage(deps_by_column={
        c: [dg.TableColumnDep(asset_key=dg.AssetKey(upstream), column_name=c)] for c in columns})


def conservation_spec(asset: str, what: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CONSERVATION, asset=asset, blocking=True,
        description=f"{what}: rows in = rows kept + rows rejected (by reason); nothing disappears")


def conservation_result(rows_in: int, kept: int, rejected: Mapping[str, int]) -> dg.AssetCheckResult:
    rejected_total = sum(rejected.values())
    return dg.AssetCheckResult(
        check_name=CONSERVATION,
        passed=rows_in == kept + rejected_total,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_in": rows_in, "kept": kept, "rejected": rejected_total,
                  "rejected_by_reason": dg.MetadataValue.json(dict(sorted(rejected.items())))},
    )


def counts_markdown(counts: Mapping[str, Mapping[str, int]], row_label: str) -> str:
    """A rows x reasons count table (e.g. source x rule) as markdown."""
    reasons = sorted({r for c in counts.values() for r in c})
    rows = [{row_label: k, **{r: v.get(r, 0) for r in reasons}} for k, v in sorted(counts.items())]
    return markdown_table(rows, [row_label, *reasons])


def inline_png(path: Path, alt: str) -> str:
    """A PNG as a markdown image with a data URI: the Dagster UI shows it without access to the file."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')})"


def card_metadata(card, path: Path) -> dict:
    """An asset's dataset / model card (core.cards) as its `card` markdown metadata, and where the file is."""
    return {"card": dg.MetadataValue.md(card.text), "card_path": dg.MetadataValue.path(str(path))}
