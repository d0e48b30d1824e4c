"""d1_documents: exact then MinHash-LSH near-duplicate removal across all D1 sources.

The global step works on compact data on disk (text hashes, band keys) in DuckDB; only the
duplicate edges (one per bucket member) come into Python for connected components.
"""


from collections import Counter, defaultdict

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..cleaning.signals import CLEANED_SCHEMA, REJECTION_SCHEMA
from ..lake import DOCUMENT_SCHEMA, ParquetSink, head, parquet_glob
from ..meta import (code_version, column_lineage, conservation_result, conservation_spec, counts_markdown,
                    markdown_table, table_metadata)
from ..resources import HareResource
from ..warehouse import quote_literal
from .minhash import connected_components

BATCH = 50_000
PER_SOURCE = "raw_rows_conserved_per_source"


def duplicate_plan(con: duckdb.DuckDBPyConnection, cleaned_glob: str, signature_glob: str) -> None:
    """Creates temp table `plan(id, reason, duplicate_of)`: reason NULL = kept."""
    con.execute(f"""
        CREATE TEMP TABLE docs AS
        SELECT id, source_weight, text_hash, row_number() OVER (ORDER BY id) AS idx
        FROM read_parquet({quote_literal(cleaned_glob)})""")
    # Exact: one keeper per normalized-text hash, preferring the higher-weight source.
    con.execute("""
        CREATE TEMP TABLE exact AS
        SELECT id, idx, source_weight,
               first(id ORDER BY source_weight DESC, id) OVER (PARTITION BY text_hash) AS keeper
        FROM docs""")
    # Near: survivors of the exact step sharing any LSH band bucket; star edges to the bucket's min id.
    edges = con.execute(f"""
        WITH s AS (
            SELECT e.idx, sig.band, sig.key
            FROM read_parquet({quote_literal(signature_glob)}) sig JOIN exact e ON e.id = sig.id
            WHERE e.id = e.keeper),
        b AS (SELECT idx, min(idx) OVER (PARTITION BY band, key) AS head FROM s)
        SELECT DISTINCT head, idx FROM b WHERE head <> idx""").fetchall()
    roots = connected_components(edges)
    con.register("components", pa.table({"idx": pa.array(list(roots), pa.int64()),
                                         "root": pa.array(list(roots.values()), pa.int64())}))
    con.execute("""
        CREATE TEMP TABLE plan AS
        WITH near AS (
            SELECT e.id, first(e.id ORDER BY e.source_weight DESC, e.id) OVER (PARTITION BY c.root) AS keeper
            FROM exact e JOIN components c USING (idx) WHERE e.id = e.keeper)
        SELECT e.id,
               CASE WHEN e.id <> e.keeper THEN 'exact_duplicate'
                    WHEN n.id IS NOT NULL AND n.id <> n.keeper THEN 'near_duplicate' END AS reason,
               CASE WHEN e.id <> e.keeper THEN e.keeper
                    WHEN n.id IS NOT NULL AND n.id <> n.keeper THEN n.keeper END AS duplicate_of
        FROM exact e LEFT JOIN near n USING (id)""")


def build_d1_documents() -> dg.AssetsDefinition:
    @dg.asset(
        name="d1_documents",
        group_name="d1",
        deps=["cleaned_documents", "d1_signals"],  # d1_signals: the MinHash band keys
        code_version=code_version("dedup", "lake.py"),
        check_specs=[conservation_spec("d1_documents", "cleaned documents of all sources"),
                     dg.AssetCheckSpec(PER_SOURCE, asset="d1_documents", blocking=True,
                                       description="per D1 source: raw rows = D1 rows + rows rejected by cleaning "
                                                   "or dedup (d1_rejections)")],
        kinds={"parquet", "duckdb"},
        description=("The paper's D1: cleaned documents of every source, unique across all datasets. Exact "
                     "duplicates (normalized-text hash) then near duplicates (MinHash LSH, bands x rows "
                     "from the configured Jaccard threshold, connected components) are removed, keeping "
                     "one per cluster from the highest-weight source. Table 3 weights travel in "
                     "`source_weight`. Removed rows go to d1_rejections with stage=dedup."),
    )
    def d1_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        cleaned = parquet_glob(hare.root, "cleaned_documents", partitioned=True)
        sigs = parquet_glob(hare.root, "minhash_signatures", partitioned=True)
        reasons: Counter[str] = Counter()
        with duckdb.connect() as con:
            duplicate_plan(con, cleaned, sigs)
            rows_in = con.execute("SELECT count(*) FROM plan").fetchone()[0]
            select = f"""
                SELECT d.*, p.reason, p.duplicate_of FROM read_parquet({quote_literal(cleaned)}) d
                JOIN plan p USING (id) ORDER BY d.id"""
            with ParquetSink(hare.lake("d1_documents"), CLEANED_SCHEMA) as kept, \
                    ParquetSink(hare.lake("d1_rejections", "dedup"), REJECTION_SCHEMA) as rejected:
                reader = con.execute(select).to_arrow_reader(BATCH)
                for batch in reader:
                    t = pa.Table.from_batches([batch])
                    is_kept = pc.is_null(t["reason"])
                    kept.write_table(t.filter(is_kept))
                    dup = t.filter(pc.invert(is_kept))
                    reasons.update(dup["reason"].to_pylist())
                    rejected.write_table(pa.table({
                        **{c: dup[c] for c in DOCUMENT_SCHEMA.names},
                        "stage": pa.array(["dedup"] * dup.num_rows, pa.string()),
                        "reason": dup["reason"],
                        "detail": pc.binary_join_element_wise("duplicate of ", dup["duplicate_of"], ""),
                    }))
            removal = con.execute(f"""
                SELECT source, stage || ':' || reason AS rule, count(*) AS n
                FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_rejections', True))})
                GROUP BY ALL""").fetchall()
            per_source = con.execute(f"""
                SELECT source, count(*) FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))})
                GROUP BY ALL""").fetchall()
            sources = [s.name for s in hare.settings().d1_sources]
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
        return dg.MaterializeResult(
            metadata={
                **table_metadata(preview, ["id", "source", "text"]),
                "dagster/column_lineage": column_lineage("cleaned_documents", list(CLEANED_SCHEMA.names)),
                "dagster/row_count": kept.rows,
                "rows_in": rows_in,
                "removed_by_reason": dg.MetadataValue.json(dict(reasons)),
                "removals_per_source_and_rule": dg.MetadataValue.md(counts_markdown(table, "source")),
            },
            check_results=[
                conservation_result(rows_in, kept.rows, reasons),
                dg.AssetCheckResult(
                    check_name=PER_SOURCE, passed=not unbalanced, severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"sources": len(balance), "unbalanced": dg.MetadataValue.json(unbalanced),
                              "per_source": dg.MetadataValue.md(markdown_table(balance))}),
            ],
        )

    return d1_documents

