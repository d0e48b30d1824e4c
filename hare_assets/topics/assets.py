"""topic_clusters and synthesis_seeds: the D1 seed subset in topics, and seeds sampled per topic."""


from collections import Counter

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hare_assets.core.asset import asset
from hare_assets.core.embeddings import embed_texts
from hare_assets.core.generation.cache import Request, text_sha256
from hare_assets.core.generation.run import generate, generation_metadata
from hare_assets.core.lake import parquet_glob, read_table, write_table
from hare_assets.core.meta import inline_png, markdown_table, table_metadata
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Settings, category_tokens
from hare_assets.core.warehouse import quote_literal
from hare_assets.topics.clustering import (
    cluster_texts,
    excluded_clusters,
    parse_topic_label,
    render_map,
    representatives,
    sample_seeds,
    seeds_per_category,
    topic_label_prompt,
)
from hare_assets.topics.prompts import TOPIC_LABEL


def topic_clusters(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg = settings.topics
    seed_sources = list(cfg.seed_sources)
    with duckdb.connect() as con:
        docs = con.execute(f"""
            SELECT id, source, text FROM read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))})
            WHERE source IN (SELECT unnest(?)) ORDER BY hash(id || ?) LIMIT ?""",
            [seed_sources, str(cfg.seed), cfg.max_documents]).to_arrow_table()
    if docs.num_rows == 0:
        raise dg.Failure(f"topic_clusters: no d1_documents from the seed sources {seed_sources}")
    texts = docs["text"].to_pylist()
    vectors = embed_texts(texts, cfg.embedding_model, cfg.embedding_batch_size, settings.compute)
    result = cluster_texts(texts, vectors, cfg.n_clusters, cfg.seed, cfg.fit_sample)
    terms = result.labels
    labels, llm_meta = list(terms), {}
    if cfg.llm_labels:
        examples = [[texts[i] for i in idx] for idx in representatives(vectors, result)]
        requests = [Request(TOPIC_LABEL.sha256, text_sha256("\x1f".join(ex)), topic_label_prompt(t, ex))
                    for t, ex in zip(terms, examples)]
        model, gens, stats = generate(hare, context, requests, settings.synthesis.backend)
        named = [parse_topic_label(g.text) for g in gens]
        labels = [n or t for n, t in zip(named, terms)]
        llm_meta = {**generation_metadata(stats), "label_model": model,
                    "llm_labels_unusable": sum(n is None for n in named)}
    excluded = excluded_clusters([(t, n) for t, n in zip(terms, labels)], result.sizes,
                                 set(cfg.exclude_clusters), cfg.min_cluster_size)
    table = pa.table({
        "id": docs["id"], "source": docs["source"],
        "seed_category": pa.array([cfg.seed_sources[s] for s in docs["source"].to_pylist()]),
        "cluster": pa.array(result.assignments.astype(np.int32)),
        "cluster_label": pa.array([labels[c] for c in result.assignments]),
        "cluster_terms": pa.array([terms[c] for c in result.assignments]),
        "excluded": pa.array([int(c) in excluded for c in result.assignments]),
        "x": pa.array(result.coords[:, 0]), "y": pa.array(result.coords[:, 1]),
    })
    write_table(hare.lake("topic_clusters"), table)
    png = hare.lake("topic_clusters").parent / "topic_map.png"
    render_map(result.coords, result.assignments, labels, png)
    hare.publish("topic_clusters", "topic_clusters", partitioned=False)
    summary = [{"cluster": c, "label": label, "terms": t, "documents": size, "excluded": c in excluded}
               for c, (label, t, size) in enumerate(zip(labels, terms, result.sizes))]
    return dg.MaterializeResult(metadata={
        **table_metadata(table, ["id", "source", "cluster", "cluster_label"]),
        "clusters": dg.MetadataValue.md(markdown_table(summary)),
        "cluster_labels": dg.MetadataValue.json({str(c): label for c, label in enumerate(labels)}),
        "cluster_sizes": dg.MetadataValue.json({str(c): size for c, size in enumerate(result.sizes)}),
        "map": dg.MetadataValue.md(inline_png(png, "topic map")),
        "map_path": dg.MetadataValue.path(str(png)),
        "fitted_on_documents": result.fitted_on,
        "excluded_clusters": len(excluded),
        **llm_meta,
    })


def synthesis_seeds(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg, syn = settings.topics, settings.synthesis
    clusters = read_table(hare.lake("topic_clusters"))
    kept_clusters = set(pc.unique(clusters.filter(pc.invert(clusters["excluded"]))["cluster"]).to_pylist())
    tokens_per_seed = syn.backend.max_new_tokens
    wanted = seeds_per_category(syn.d2_tokens, syn.d2_category_shares, tokens_per_seed)
    categories = clusters["seed_category"].to_pylist()
    idx = sample_seeds(categories, clusters["cluster"].to_numpy(), kept_clusters, wanted, cfg.seed)
    chosen = clusters.take(idx)
    with duckdb.connect() as con:
        con.register("chosen", chosen)
        seeds = con.execute(f"""
            SELECT 'seed-' || c.id AS seed_id, c.id AS doc_id, c.source, c.seed_category AS category,
                   c.cluster, c.cluster_label AS topic, left(d.text, ?) AS seed_text
            FROM chosen c JOIN read_parquet({quote_literal(parquet_glob(hare.root, 'd1_documents', False))}) d USING (id)
            ORDER BY seed_id""", [cfg.seed_chars]).to_arrow_table()
    write_table(hare.lake("synthesis_seeds"), seeds)
    hare.publish("synthesis_seeds", "synthesis_seeds", partitioned=False)
    got = Counter(seeds["category"].to_pylist())
    available = Counter(c for c, k in zip(categories, clusters["cluster"].to_pylist()) if k in kept_clusters)
    total_share = sum(syn.d2_category_shares.values())
    targets = category_tokens(syn.d2_tokens, syn.d2_category_shares)
    plan = [{"category": c, "share": round(s / total_share, 4), "target_tokens": round(targets[c]),
             "seeds_wanted": wanted[c], "documents": available[c], "seeds": got[c],
             "planned_tokens": got[c] * tokens_per_seed} for c, s in syn.d2_category_shares.items()]
    short = [p["category"] for p in plan if p["seeds"] < p["seeds_wanted"]]
    if short:
        context.log.warning(f"synthesis_seeds: too few documents for the token target of {short}")
    per_topic = Counter(zip(seeds["category"].to_pylist(), seeds["topic"].to_pylist()))
    return dg.MaterializeResult(metadata={
        **table_metadata(seeds, ["seed_id", "category", "topic", "seed_text"]),
        "seeds_per_category": dg.MetadataValue.json(dict(got)),
        "token_plan": dg.MetadataValue.md(markdown_table(plan)),
        "categories_short_of_target": dg.MetadataValue.json(short),
        "seeds_per_topic": dg.MetadataValue.md(markdown_table(
            [{"category": c, "topic": t, "seeds": n} for (c, t), n in sorted(per_topic.items())])),
    })


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    cfg, syn = settings.topics, settings.synthesis
    labels = "then named through the generation backend" if cfg.llm_labels else "no LLM names: topics.llm_labels is off"
    shares = ", ".join(f"{c} {s:g}" for c, s in syn.d2_category_shares.items())
    return [
        asset(
            name="topic_clusters",
            group_name="topics",
            deps=["d1_documents"],
            # The LLM labels run through the generation backend: its config is read only when they are on.
            config=[cfg, syn.backend if cfg.llm_labels else None],
            kinds={"parquet", "scikitlearn", "pytorch"},
            description=(f"D1 documents of the {len(cfg.seed_sources)} Table 4 seed sources (at most "
                         f"{cfg.max_documents:,}) embedded with {cfg.embedding_model} and clustered into "
                         f"{cfg.n_clusters} topics: k-means fitted on a sample of {cfg.fit_sample:,}, the rest "
                         "assigned to the nearest centroid, each cluster labelled by its top c-TF-IDF terms "
                         f"({labels}), with sizes and a 2-D map (PNG in metadata). Clusters can be excluded from "
                         f"seeding by label or size (min {cfg.min_cluster_size})."),
        )(topic_clusters),
        asset(
            name="synthesis_seeds",
            group_name="topics",
            deps=["topic_clusters", "d1_documents"],
            config=[cfg, syn.d2_tokens, syn.d2_category_shares, syn.backend.max_new_tokens],
            kinds={"parquet"},
            description=(f"Synthesis seeds toward per-category token targets ({syn.d2_tokens:,} D2 tokens split "
                         f"by the shares {shares}; one seed per {syn.backend.max_new_tokens} generated tokens): "
                         "each category's seeds are drawn round-robin over the kept topics, so topics are "
                         "balanced; the seed source's Table 4 category decides the prompt family. The seed text "
                         f"is the document's first {cfg.seed_chars} characters."),
        )(synthesis_seeds),
    ]
