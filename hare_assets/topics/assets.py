"""topic_clusters and synthesis_seeds: the D1 seed subset in topics, and seeds sampled per topic."""


import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..lake import parquet_glob, read_table, write_table
from ..meta import code_version, markdown_table, table_metadata
from ..resources import HareResource
from ..warehouse import quote_literal
from .clustering import cluster_texts, embed_texts, render_map, sample_seeds


@dg.asset(
    group_name="topics",
    deps=["d1_documents"],
    code_version=code_version("topics"),
    kinds={"parquet", "scikitlearn", "pytorch"},
    description=("D1 documents of the Table 4 seed sources embedded with all-MiniLM-L6-v2 (packaged, offline) "
                 "and clustered into topics: k-means (k in config) fitted on a bounded sample, the rest "
                 "assigned to the nearest centroid, each cluster labelled by its top c-TF-IDF terms, with "
                 "sizes and a 2-D map (PNG in metadata)."),
)
def topic_clusters(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    cfg = hare.settings().topics
    seed_sources = list(cfg.seed_sources)
    with duckdb.connect() as con:
        docs = con.execute(f"""
            SELECT id, source, text FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))})
            WHERE source IN (SELECT unnest(?)) ORDER BY hash(id || ?) LIMIT ?""",
            [seed_sources, str(cfg.seed), cfg.max_documents]).fetch_arrow_table()
    if docs.num_rows == 0:
        raise dg.Failure(f"topic_clusters: no d1_documents from the seed sources {seed_sources}")
    texts = docs["text"].to_pylist()
    result = cluster_texts(texts, embed_texts(texts, cfg.embedding_model, cfg.embedding_batch_size),
                           cfg.n_clusters, cfg.seed)
    labels = [result.labels[c] for c in result.assignments]
    excluded = {c for c, (label, size) in enumerate(zip(result.labels, result.sizes))
                if label in cfg.exclude_clusters or size < cfg.min_cluster_size}
    table = pa.table({
        "id": docs["id"], "source": docs["source"],
        "seed_category": pa.array([cfg.seed_sources[s] for s in docs["source"].to_pylist()]),
        "cluster": pa.array(result.assignments.astype(np.int32)),
        "cluster_label": pa.array(labels),
        "excluded": pa.array([int(c) in excluded for c in result.assignments]),
        "x": pa.array(result.coords[:, 0]), "y": pa.array(result.coords[:, 1]),
    })
    write_table(hare.lake("topic_clusters"), table)
    png = hare.lake("topic_clusters").parent / "topic_map.png"
    render_map(result.coords, result.assignments, result.labels, png)
    hare.publish("topic_clusters", "topic_clusters", partitioned=False)
    summary = [{"cluster": c, "label": label, "documents": size, "excluded": c in excluded}
               for c, (label, size) in enumerate(zip(result.labels, result.sizes))]
    return dg.MaterializeResult(metadata={
        **table_metadata(table, ["id", "source", "cluster", "cluster_label"]),
        "clusters": dg.MetadataValue.md(markdown_table(summary)),
        "map": dg.MetadataValue.md(f"![topic map]({png.as_uri()})\n\n`{png}`"),
        "map_path": dg.MetadataValue.path(str(png)),
        "excluded_clusters": len(excluded),
    })


@dg.asset(
    group_name="topics",
    deps=["topic_clusters", "d1_documents"],
    code_version=code_version("topics"),
    kinds={"parquet"},
    description=("Synthesis seeds: a seeded, topic-balanced sample of up to `seeds_per_topic` documents per "
                 "kept cluster; the seed source's Table 4 category decides the prompt family. The seed "
                 "text is the document's first `seed_chars` characters."),
)
def synthesis_seeds(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    cfg = hare.settings().topics
    clusters = read_table(hare.lake("topic_clusters"))
    kept_clusters = set(pc.unique(clusters.filter(pc.invert(clusters["excluded"]))["cluster"]).to_pylist())
    idx = sample_seeds(clusters["cluster"].to_numpy(), kept_clusters, cfg.seeds_per_topic, cfg.seed)
    chosen = clusters.take(idx)
    with duckdb.connect() as con:
        con.register("chosen", chosen)
        seeds = con.execute(f"""
            SELECT 'seed-' || c.id AS seed_id, c.id AS doc_id, c.source, c.seed_category AS category,
                   c.cluster, c.cluster_label AS topic, left(d.text, ?) AS seed_text
            FROM chosen c JOIN read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))}) d USING (id)
            ORDER BY seed_id""", [cfg.seed_chars]).fetch_arrow_table()
    write_table(hare.lake("synthesis_seeds"), seeds)
    hare.publish("synthesis_seeds", "synthesis_seeds", partitioned=False)
    per_category = seeds.group_by("category").aggregate([("seed_id", "count")]).to_pylist()
    return dg.MaterializeResult(metadata={
        **table_metadata(seeds, ["seed_id", "category", "topic", "seed_text"]),
        "seeds_per_category": dg.MetadataValue.json({r["category"]: r["seed_id_count"] for r in per_category}),
    })
