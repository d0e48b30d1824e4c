"""Shared Dagster glue: metadata for tables and the conservation check."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import dagster as dg
import pyarrow as pa

from hare_assets.core.markdown import markdown_table
from hare_assets.core.schemas import column_description

CONSERVATION = "rows_conserved"


def _schema(schema: pa.Schema, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The column schema, each column with its description (`descriptions`, then schemas.COLUMN_DESCRIPTIONS)."""
    descriptions = descriptions or {}
    return dg.TableSchema(columns=[
        dg.TableColumn(f.name, str(f.type), description=descriptions.get(f.name) or column_description(f.name))
        for f in schema])


def table_metadata(table: pa.Table, preview_columns: list[str] | None = None, n: int = 5,
                   descriptions: Mapping[str, str] | None = None) -> dict:
    """Row count, column schema (with column descriptions) and a markdown preview of the first rows."""
    cols = preview_columns or table.column_names
    return {
        "dagster/row_count": table.num_rows,
        "dagster/column_schema": _schema(table.schema, descriptions),
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


@dataclass
class PartitionOutcome:
    """What one partition of a multi-partition run reports: its metadata and its conservation counts."""

    metadata: dict
    rows_in: int
    kept: int
    rejected: Mapping[str, int] = field(default_factory=dict)


def backfill_policy(partitions_per_run: int) -> dg.BackfillPolicy:
    """UI backfills run up to `partitions_per_run` partitions per run (one process), not one run each."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run)


def materialize_partitions(context: dg.AssetExecutionContext,
                           one: Callable[[str], PartitionOutcome]) -> dg.MaterializeResult:
    """Run `one(partition_key)` for every partition of the run (several in a grouped backfill run).

    Each partition's metadata goes on its own materialization (`add_asset_metadata(partition_key=)`).
    A check result cannot name a partition, so the run gets one conservation result: passed when every
    partition conserves its rows, with the per-partition counts in its metadata. A `dg.Failure` in one
    partition lets the others run, then fails the run naming every failed partition (Dagster records
    a range run's materializations all or none).
    """
    keys = list(context.partition_keys)
    outcomes: dict[str, PartitionOutcome] = {}
    failures: dict[str, str] = {}
    for key in keys:
        try:
            outcomes[key] = one(key)
        except dg.Failure as e:
            if len(keys) == 1:
                raise
            failures[key] = e.description or str(e)
            context.log.error(f"partition {key}: {failures[key]}")
    if failures:
        raise dg.Failure(description=f"{len(failures)} of {len(keys)} partitions failed: "
                         + "; ".join(f"[{k}] {v}" for k, v in failures.items()))
    for key, outcome in outcomes.items():
        context.add_asset_metadata(outcome.metadata, partition_key=key)
    rejected: dict[str, int] = {}
    for outcome in outcomes.values():
        for reason, n in outcome.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    check = conservation_result(sum(o.rows_in for o in outcomes.values()), sum(o.kept for o in outcomes.values()),
                                rejected)
    if len(keys) > 1:
        per_partition = {k: {"rows_in": o.rows_in, "kept": o.kept, "rejected": sum(o.rejected.values()),
                             "conserved": o.rows_in == o.kept + sum(o.rejected.values())}
                         for k, o in outcomes.items()}
        check = dg.AssetCheckResult(
            check_name=check.check_name, severity=check.severity,
            passed=all(v["conserved"] for v in per_partition.values()),
            metadata={**check.metadata, "partitions": len(keys), "by_partition": dg.MetadataValue.json(per_partition)})
    return dg.MaterializeResult(metadata={"partitions_in_run": len(keys)} if len(keys) > 1 else None,
                                check_results=[check])


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
