"""Per-API accuracy of API calls on the test split: the tool model's functional calls and the RAG baseline's
plain calls, each compared with the target by `calls.calls_match` (pure code: no Dagster). The RAG baseline
retrieves the `top_k` function descriptions nearest the query (cosine of sentence embeddings) and puts them in
the prompt (`prompts.rag_prompt`)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from hare_assets.core.settings import Api
from hare_assets.tool.calls import Call, calls_match, parse_functional, parse_plain
from hare_assets.tool.prompts import function_line


def retrieve(query_vectors: np.ndarray, api_vectors: np.ndarray, apis: tuple[Api, ...], top_k: int) -> list[list[Api]]:
    """The `top_k` APIs per query by cosine similarity (the vectors are L2-normalized), best first."""
    order = np.argsort(-(query_vectors @ api_vectors.T), axis=1, kind="stable")[:, :top_k]
    return [[apis[j] for j in row] for row in order]


def api_documents(apis: tuple[Api, ...]) -> list[str]:
    """What the retriever indexes: one line per function (signature and description)."""
    return [function_line(a) for a in apis]


def judge(outputs: list[str], targets: list[Call], apis: tuple[Api, ...], functional: bool) -> list[bool]:
    parse = (lambda t: parse_functional(t, apis)) if functional else parse_plain
    return [calls_match(parse(o), t) for o, t in zip(outputs, targets)]


def accuracy_rows(api_names: list[str], correct: list[bool]) -> dict[str, dict]:
    """{api: {n, correct, accuracy, stderr}} with the binomial standard error of the accuracy."""
    tally: dict[str, list[bool]] = defaultdict(list)
    for name, ok in zip(api_names, correct):
        tally[name].append(ok)
    out = {}
    for name, oks in tally.items():
        n, k = len(oks), sum(oks)
        p = k / n
        out[name] = {"n": n, "correct": k, "accuracy": p, "stderr": math.sqrt(p * (1 - p) / n)}
    return out
