"""The global dedup step of D1 (pure code, no Dagster): a duplicate plan in DuckDB over the stored
text hashes and LSH band keys, then a streaming write of kept and removed documents.

It works on compact data on disk, and DuckDB runs under `compute.duckdb_memory_limit`, spilling to
`duckdb_temp_directory` past it, so memory follows the number of duplicates, not the corpus.

Band-key collisions are found per (band, key-hash shard) (`band_edges`, one task each: in this process,
or Ray tasks with `compute: ray`), as in datatrove's MinHash stage: two documents are candidates only
when one band's key matches, so the tasks need no shuffle between them. Each task reads its band's row
groups of the band-key Parquet (`d1_signals` stores one row group per batch and band, and DuckDB skips
the others by their statistics) and the exact-dedup survivors from `scratch` (shared storage:
HARE_HOME), and writes its star edges there; connected components (`components.py`) run over those files.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hare_assets.core.compute import map_batches
from hare_assets.core.lake import ParquetSink, staged
from hare_assets.core.schemas import CLEANED_SCHEMA, DOCUMENT_SCHEMA, REJECTION_SCHEMA
from hare_assets.core.settings import Compute
from hare_assets.core.warehouse import duckdb_limits, quote_literal
from hare_assets.dedup.components import components_table

BATCH = 50_000


def band_edges(task: tuple[int, int], signature_glob: str, survivors: str, shards: int, out_dir: str,
               memory_limit: str, temp_directory: str) -> tuple[str, int]:
    """Writes the star edges (head: the bucket's smallest idx, idx: a member) of one (band, key shard):
    the exact-dedup survivors (`survivors` Parquet: id, idx) that share a key of that band whose hash
    falls in the shard. Returns (the edge file, its edges)."""
    band, shard = task
    out = str(Path(out_dir) / f"band{band}-shard{shard}.parquet")
    with duckdb.connect() as con:
        duckdb_limits(con, memory_limit, temp_directory)
        con.execute(f"""
            COPY (WITH s AS (
                SELECT k.idx, sig.key
                FROM read_parquet({quote_literal(signature_glob)}) sig
                JOIN read_parquet({quote_literal(survivors)}) k ON k.id = sig.id
                WHERE sig.band = {int(band)} AND hash(sig.key) % {int(shards)} = {int(shard)}),
            b AS (SELECT idx, min(idx) OVER (PARTITION BY key) AS head FROM s)
            SELECT DISTINCT head, idx FROM b WHERE head <> idx) TO {quote_literal(out)} (FORMAT parquet)""")
        return out, con.execute(f"SELECT count(*) FROM read_parquet({quote_literal(out)})").fetchone()[0]


def duplicate_plan(con: duckdb.DuckDBPyConnection, cleaned_glob: str, signature_glob: str, bands: int,
                   scratch: Path, compute: Compute = Compute()) -> None:
    """Creates temp table `plan(id, reason, duplicate_of)`: reason NULL = kept. `bands`: the LSH
    bands in the band keys (one `band_edges` task each); `scratch`: a folder every task can read."""
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
    scratch.mkdir(parents=True, exist_ok=True)
    survivors = scratch / "survivors.parquet"
    con.execute(f"COPY (SELECT id, idx FROM exact WHERE id = keeper) TO {quote_literal(str(survivors))} (FORMAT parquet)")
    settings = con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    limits = {"memory_limit": settings[0], "temp_directory": settings[1]}
    edge_dir = scratch / "edges"
    shutil.rmtree(edge_dir, ignore_errors=True)
    edge_dir.mkdir(parents=True)
    shards = compute.dedup_key_shards
    edge_files = list(map_batches(compute, band_edges, [(b, s) for b in range(bands) for s in range(shards)],
                                  shared={"signature_glob": signature_glob, "survivors": str(survivors),
                                          "shards": shards, "out_dir": str(edge_dir), **limits}))
    components_table(con, compute, [f for f, _ in edge_files], sum(n for _, n in edge_files), scratch, **limits)
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


def write_deduplicated(con: duckdb.DuckDBPyConnection, cleaned_glob: str, signature_glob: str, bands: int,
                       scratch: Path, kept_dest: Path, rejected_dest: Path,
                       compute: Compute = Compute()) -> tuple[int, Counter, int]:
    """Plans, then streams the cleaned documents into kept (CLEANED_SCHEMA) and removed rows
    (REJECTION_SCHEMA, stage=dedup, "duplicate of <id>"). Returns (rows in, removals by reason, kept)."""
    duplicate_plan(con, cleaned_glob, signature_glob, bands, scratch, compute)
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
