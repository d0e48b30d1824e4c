"""Repetition rates of documents against the benchmark index (the paper's decontamination steps 2 and 3).

Pure code: no Dagster. `decontaminated_documents` scores each batch with `repetition_rates` against
the `PreparedIndex` of the stored `benchmark_ngrams` (`index.py`); words and n-grams are hashed as
the index's are (`hashing.py`).

Repetition rate (with multiplicity)
    rate(N) = (n-gram positions of the document whose N-gram is in the benchmark index) /
              (all N-gram positions of the document = words - N + 1).
    Counting positions (with multiplicity) rather than distinct n-grams makes the rate the share of
    the document's text windows that are benchmark text, which is what the model would be trained
    on: a document that repeats a benchmark question three times is as contaminated as one that
    quotes it once, and a document padded with repeated filler is not made to look cleaner or dirtier
    than its text is. The threshold (`Decontamination.max_repetition_rate`, 0.5) is applied by the
    caller: a sample is removed when rate > threshold.

How an n-gram range applies (`Decontamination.ngram` = [lo, hi], e.g. D2 [10, 15], D3 [4, 8])
    The rate is computed for every N in [lo, hi] and the document's rate is the MAXIMUM over N (the
    most conservative reading of the paper: a sample is removed if, for any N in the range, more than
    half of its N-grams occur in a benchmark). Sizes N longer than the document (words < N) are skipped;
    a document shorter than lo words gets rate 0, n 0, total 0: it has no n-gram to compare, and the
    length limits (step 1) are the place that removes such samples.
    Note for optimisation: when the index holds every N-gram of every benchmark item for all N in the
    range (as `benchmark_ngram_rows` builds it), the rate cannot increase with N: each matched
    (N+1)-gram window at p makes the N-gram windows at p and p+1 match, so matched(N) >= matched(N+1)+1
    whenever matched(N+1) > 0, and (m+1)/(L-N+1) >= m/(L-N) for m <= L-N. The maximum is therefore
    always reached at N = lo (up to hash collisions); the other sizes are still computed so that the
    result does not rely on that property of the index, and `OverlapScores.n` reports the size that
    gave it (the smallest on ties).

Batches are cut into chunks of about 2 MB of text, scored on a thread pool (numpy and pyarrow
release the GIL), with results independent of the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from hare_assets.core.overlap.hashing import (
    as_strings,
    hash_words,
    ngram_sizes,
    ngram_windows,
)
from hare_assets.core.overlap.index import PreparedIndex, prepare_index
from model_training.tokenizer import encode_texts

_CHUNK_BYTES = 1 << 21  # texts are normalized and hashed in chunks of about 2 MB (bounded temporaries)


class OverlapScores(NamedTuple):
    """A document's repetition rate: the max over the spec's sizes (see the module docstring).
    A named tuple: a batch makes one per document, and a tuple is made several times faster."""

    rate: float
    n: int  # the n-gram size that gave the rate; 0 when the document is shorter than every size
    matched: int  # n-gram positions found in the index, at size n
    total: int  # n-gram positions of the document at size n (words - n + 1)
    first_match: int | None  # hash (signed int64) of the first matched n-gram, for explanations


def _score(tok: np.ndarray, offsets: np.ndarray, index: PreparedIndex, ns: Sequence[int]):
    """Per document: best rate, its n, matched, total, first matched hash, and whether it has one."""
    d = len(offsets) - 1
    best_rate = np.full(d, -1.0)
    best_n = np.zeros(d, np.int64)
    best_matched = np.zeros(d, np.int64)
    best_total = np.zeros(d, np.int64)
    best_first = np.zeros(d, np.int64)
    has_first = np.zeros(d, bool)
    for n, pos, doc, hashes in ngram_windows(tok, offsets, ns):
        if len(pos) == 0:
            continue
        found = index.isin(hashes, n)
        total = np.bincount(doc, minlength=d)
        matched = np.bincount(doc[found], minlength=d)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(total > 0, matched / np.maximum(total, 1), -1.0)
        better = rate > best_rate
        if not better.any():
            continue
        first_hash = np.zeros(d, np.int64)
        first_has = np.zeros(d, bool)
        docs_hit, idx = np.unique(doc[found], return_index=True)
        first_hash[docs_hit] = hashes[found][idx]
        first_has[docs_hit] = True
        best_rate[better], best_n[better] = rate[better], n
        best_matched[better], best_total[better] = matched[better], total[better]
        best_first[better], has_first[better] = first_hash[better], first_has[better]
    best_rate[best_rate < 0] = 0.0
    return best_rate, best_n, best_matched, best_total, best_first, has_first


def repetition_rates(docs: Sequence[str | None] | pa.Array | pa.ChunkedArray,
                     index: Mapping[int, np.ndarray | Iterable[int]], spec: int | Sequence[int], *,
                     threads: int | None = None) -> list[OverlapScores]:
    """Repetition rates of a batch of documents against the index (n -> hashes; see `prepare_index`).

    Vectorised over the batch: the texts are normalized and their words hashed in numpy over the
    UTF-8 bytes (`hash_words`), every n-gram size is one numpy pass plus a bitmap pre-check and a
    binary search into the sorted index. The batch is cut into chunks of about `_CHUNK_BYTES`, scored
    on `threads` threads (default: every core; numpy and pyarrow release the GIL in these loops), and
    the results are the same for any thread count. For many batches against one index pass
    `prepare_index(index)`: a plain mapping works too (same results) but is sorted, copied and gets
    its membership bitmaps on every call, which is costly for a large index.
    """
    ns = ngram_sizes(spec)
    idx = prepare_index(index, ns)
    texts = as_strings(docs)
    if len(texts) == 0:
        return []
    threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
    for n in ns:
        idx.prefilter(n)  # built here once, not raced for by the threads

    def score(chunk: pa.Array):
        words = hash_words(chunk)
        return _score(words.hashes, words.offsets, idx, ns)

    chunks = list(_chunks(texts, threads))
    if threads > 1 and len(chunks) > 1:
        parts = list(_executor(threads).map(score, chunks))
    else:
        parts = [score(c) for c in chunks]
    rate, n, matched, total, first, has_first = (np.concatenate(col) for col in zip(*parts))
    first_match = np.where(has_first, first, None).tolist()
    return list(map(OverlapScores._make,
                    zip(rate.tolist(), n.tolist(), matched.tolist(), total.tolist(), first_match)))


def check_texts(texts: Sequence[str | None] | pa.Array, index: PreparedIndex, spec: int | Sequence[int],
                threads: int | None = None) -> tuple[list[int], list[OverlapScores]]:
    """One batch of `decontaminated_documents`: each text's Mistral v1 token count and its repetition
    rate against the index (run in-process, or as a Ray task with the index in the object store)."""
    texts = as_strings(texts)
    tokens = [len(ids) for ids in encode_texts(texts.to_pylist(), threads)]
    return tokens, repetition_rates(texts, index, spec, threads=threads)


def _chunks(texts: pa.Array, parts: int = 1) -> Iterator[pa.Array]:
    """Consecutive slices of at most `_CHUNK_BYTES` of text each (a longer text is a chunk alone),
    and at least `parts` of them when there are that many texts (so every thread gets work)."""
    offsets = np.frombuffer(texts.buffers()[1], np.int64, len(texts) + 1, texts.offset * 8)
    size = max(1, min(_CHUNK_BYTES, -(-int(offsets[-1] - offsets[0]) // max(1, parts))))
    start = 0
    while start < len(texts):
        stop = int(np.searchsorted(offsets, offsets[start] + size, side="right")) - 1
        stop = min(len(texts), max(stop, start + 1))
        yield texts.slice(start, stop - start)
        start = stop


_EXECUTORS: dict[int, ThreadPoolExecutor] = {}


def _executor(threads: int) -> ThreadPoolExecutor:
    if threads not in _EXECUTORS:
        _EXECUTORS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="hare-ngrams")
    return _EXECUTORS[threads]
