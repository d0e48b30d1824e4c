"""The global dedup step of D1 (pure code, no Dagster): a duplicate plan in DuckDB over the stored
text hashes and LSH band keys, then a streaming write of kept and removed documents.

It works on compact data on disk; only the duplicate edges (one per bucket member) come into
Python for connected components, so memory follows the number of duplicates, not the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hare_assets.core.lake import ParquetSink, staged
from hare_assets.core.schemas import CLEANED_SCHEMA, DOCUMENT_SCHEMA, REJECTION_SCHEMA
from hare_assets.core.warehouse import quote_literal

BATCH = 50_000


def connected_components(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Union-find over candidate pairs: every id that appears maps to its component's smallest id."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        a, b = int(a), int(b)
        if a not in parent:
            parent[a] = a
        if b not in parent:
            parent[b] = b
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return {x: find(x) for x in parent}


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


def write_deduplicated(con: duckdb.DuckDBPyConnection, cleaned_glob: str, signature_glob: str,
                       kept_dest: Path, rejected_dest: Path) -> tuple[int, Counter, int]:
    """Plans, then streams the cleaned documents into kept (CLEANED_SCHEMA) and removed rows
    (REJECTION_SCHEMA, stage=dedup, "duplicate of <id>"). Returns (rows in, removals by reason, kept)."""
    duplicate_plan(con, cleaned_glob, signature_glob)
    rows_in = con.execute("SELECT count(*) FROM plan").fetchone()[0]
    reasons: Counter[str] = Counter()
    select = f"""
        SELECT d.*, p.reason, p.duplicate_of FROM read_parquet({quote_literal(cleaned_glob)}) d
        JOIN plan p USING (id) ORDER BY d.id"""
    with staged(ParquetSink(kept_dest, CLEANED_SCHEMA), ParquetSink(rejected_dest, REJECTION_SCHEMA)) as (kept, rejected):
        for batch in con.execute(select).to_arrow_reader(BATCH):
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
    return rows_in, reasons, kept.rows
