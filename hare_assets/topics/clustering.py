"""Topic clustering of the D1 seed subset: vectors, k-means, c-TF-IDF labels, a 2-D map.

First version: TF-IDF vectors. k-means is fitted on a bounded sample and the rest is assigned to the
nearest centroid (as cosmopedia's text-clustering does), so memory does not grow with the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

FIT_SAMPLE = 20_000
LABEL_TERMS = 4


@dataclass
class Clustering:
    assignments: np.ndarray   # cluster id per document
    labels: list[str]         # label per cluster id
    sizes: list[int]
    coords: np.ndarray        # (n, 2) map coordinates


def cluster_texts(texts: list[str], n_clusters: int, seed: int) -> Clustering:
    k = max(1, min(n_clusters, len(texts)))
    vectorizer = TfidfVectorizer(stop_words="english", max_features=50_000, sublinear_tf=True, min_df=1)
    rng = np.random.default_rng(seed)
    fit_idx = rng.permutation(len(texts))[:FIT_SAMPLE]
    vectorizer.fit([texts[i] for i in fit_idx])
    x = vectorizer.transform(texts)
    km = KMeans(n_clusters=k, random_state=seed, n_init=4).fit(x[fit_idx])
    assignments = km.predict(x)
    return Clustering(
        assignments=assignments,
        labels=ctfidf_labels(texts, assignments, k),
        sizes=[int((assignments == c).sum()) for c in range(k)],
        coords=map_2d(x, seed),
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
