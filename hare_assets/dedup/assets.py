"""d1_documents: exact then MinHash-LSH near-duplicate removal across all D1 sources (see plan.py),
the per-source x per-rule removal table and the per-source conservation check."""


import shutil
from collections import defaultdict

import dagster as dg
import duckdb
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.cards import cards_dir, dataset_card, write_card
from hare_assets.core.lake import head, parquet_glob
from hare_assets.core.meta import (
    card_metadata,
    column_lineage,
    conservation_result,
    conservation_spec,
    counts_markdown,
    markdown_table,
    table_metadata,
)
from hare_assets.core.minhash import lsh_params
from hare_assets.core.provenance import document_rows, source_provenance
from hare_assets.core.resources import HareResource
from hare_assets.core.schemas import CLEANED_SCHEMA
from hare_assets.core.settings import Settings
from hare_assets.core.warehouse import duckdb_limits, quote_literal
from hare_assets.dedup.plan import write_deduplicated

PER_SOURCE = "raw_rows_conserved_per_source"


def build_d1_documents(settings: Settings) -> dg.AssetsDefinition:
    d1_sources = [s.name for s in settings.d1_sources]
    provenance = source_provenance(settings.d1_sources)  # for the dataset card
    bands, rows = lsh_params(settings.dedup.jaccard_threshold, settings.dedup.num_perm)

    @asset(
        name="d1_documents",
        group_name="d1",
        deps=["cleaned_documents", "d1_signals"],  # d1_signals: the MinHash band keys
        config=[d1_sources, provenance, settings.dedup],
        check_specs=[conservation_spec("d1_documents", "cleaned documents of all sources"),
                     dg.AssetCheckSpec(PER_SOURCE, asset="d1_documents", blocking=True,
                                       description="per D1 source: raw rows = D1 rows + rows rejected by cleaning "
                                                   "or dedup (d1_rejections)")],
        kinds={"parquet", "duckdb"},
        description=(f"The paper's D1: cleaned documents of the {len(d1_sources)} D1 sources, unique across all "
                     "datasets. Exact duplicates (normalized-text hash) then near duplicates (MinHash LSH at "
                     f"Jaccard {settings.dedup.jaccard_threshold}: {bands} bands x {rows} rows of "
                     f"{settings.dedup.num_perm} permutations, connected components) are removed, keeping "
                     "one per cluster from the highest-weight source. Table 3 weights travel in "
                     "`source_weight`. Removed rows go to d1_rejections with stage=dedup."),
    )
    def d1_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        cleaned = parquet_glob(hare.root, "cleaned_documents", partitioned=True)
        sigs = parquet_glob(hare.root, "minhash_signatures", partitioned=True)
        compute = hare.settings().compute
        scratch = hare.root / "tmp" / f"dedup-{context.run_id}"  # under HARE_HOME: every Ray node reads it
        with duckdb.connect() as con:
            duckdb_limits(con, compute.duckdb_memory_limit, compute.duckdb_temp_directory or hare.root / "tmp" / "duckdb")
            try:
                rows_in, reasons, kept_rows = write_deduplicated(
                    con, cleaned, sigs, bands, scratch, hare.lake("d1_documents"), hare.lake("d1_rejections", "dedup"),
                    compute)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            removal = con.execute(f"""
                SELECT source, stage || ':' || reason AS rule, count(*) AS n
                FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_rejections', True))})
                GROUP BY ALL""").fetchall()
            per_source = con.execute(f"""
                SELECT source, count(*) FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))})
                GROUP BY ALL""").fetchall()
            sources = d1_sources
            raw_globs = [str(hare.lake("raw_documents", s) / "*.parquet") for s in sources]
            raw = dict(con.execute("SELECT source, count(*) FROM read_parquet($globs) GROUP BY ALL",
                                   {"globs": raw_globs}).fetchall())
        table: dict[str, dict[str, int]] = defaultdict(dict)
        for source, rule, n in removal:
            table[source][rule] = n
        for source, n in per_source:
            table[source]["kept"] = n
        balance = [{"source": s, "raw": raw.get(s, 0), "kept": table[s].get("kept", 0),
                    "rejected": sum(n for r, n in table[s].items() if r != "kept")} for s in sources]
        unbalanced = [b for b in balance if b["raw"] != b["kept"] + b["rejected"]]
        hare.publish("d1_documents", "d1_documents", partitioned=False)
        hare.publish("d1_rejections", "d1_rejections", partitioned=True)
        hare.warehouse().replace_table("d1_removals", pa.Table.from_pylist(
            [{"source": s, "rule": r, "documents": n} for s, c in sorted(table.items()) for r, n in sorted(c.items())]))
        preview = head(hare.lake("d1_documents"))
        card = d1_card(hare.settings(), kept_rows, rows_in, reasons, table, dict(per_source))
        card_path = write_card(card, cards_dir(hare.root, "d1_documents"))
        return dg.MaterializeResult(
            metadata={
                **card_metadata(card, card_path),
                **table_metadata(preview, ["id", "source", "text"]),
                "dagster/column_lineage": column_lineage("cleaned_documents", list(CLEANED_SCHEMA.names)),
                "dagster/row_count": kept_rows,
                "rows_in": rows_in,
                "removed_by_reason": dg.MetadataValue.json(dict(reasons)),
                "removals_per_source_and_rule": dg.MetadataValue.md(counts_markdown(table, "source")),
            },
            check_results=[
                conservation_result(rows_in, kept_rows, reasons),
                dg.AssetCheckResult(
                    check_name=PER_SOURCE, passed=not unbalanced, severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"sources": len(balance), "unbalanced": dg.MetadataValue.json(unbalanced),
                              "per_source": dg.MetadataValue.md(markdown_table(balance))}),
            ],
        )

    return d1_documents


def d1_card(settings: Settings, kept: int, rows_in: int, reasons: dict, removals: dict, per_source: dict):
    """The dataset card of d1_documents: what it is, the rules that removed documents and their counts."""
    dedup = settings.dedup
    bands, rows = lsh_params(dedup.jaccard_threshold, dedup.num_perm)
    built = ("Each configured D1 source (paper Table 3) is read into `raw_documents`, normalized (NFC, control "
             "characters, whitespace), PII replaced by placeholders and links removed; then the cleaning rules "
             "(`cleaning.*` in the config: length, non-alphabetic share, duplicate lines / paragraphs, boilerplate, "
             "incomplete ending, fastText lid.176 language ID, with code and math rule sets) drop documents, and "
             f"exact duplicates plus MinHash-LSH near duplicates (Jaccard {dedup.jaccard_threshold}, {bands} bands x "
             f"{rows} rows of {dedup.num_perm} permutations, {dedup.shingle_words}-word shingles) are removed "
             "across all sources, keeping the document of the highest-weight source.")
    counts = (f"{rows_in:,} cleaned documents in, {kept:,} kept; removed by dedup: "
              + (", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items())) or "none")
              + ".\n\nPer source and rule (`cleaning:<rule>` and `dedup:<reason>` rejections, and the kept rows):\n\n"
              + counts_markdown(removals, "source"))
    src_rows = document_rows({("d1", s): n for s, n in per_source.items()}, source_provenance(settings.d1_sources))
    return dataset_card(name="HARE D1 documents", rows=kept, licenses=[r["license"] for r in src_rows],
                        source_rows=src_rows,
                        summary="Cleaned and deduplicated open corpora (the paper's D1): one row per document with "
                                "id, source, category, text and the source's Table 3 weight.",
                        sections=[("How it was built", built), ("Counts", counts)])


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [build_d1_documents(settings)]
