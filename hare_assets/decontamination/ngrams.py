"""N-gram overlap between documents and benchmark items (the paper's decontamination steps 2 and 3).

Pure code: no Dagster. The asset `benchmark_ngrams` stores the index built by `benchmark_ngram_rows`;
`decontaminated_documents` scores documents with `repetition_rates` against sorted hash arrays per n.

Normalization
    `normalize_tokens`: Unicode lowercase, every run of Unicode punctuation or symbol characters
    (`\\p{P}`, `\\p{S}`: `.,;:!?'"()-_$+=<>` and their typographic kin such as ``’ “ — …``) replaced
    by a space, then split on Unicode whitespace. Replacing by a space (rather than deleting, as
    lm-eval's Janitor does) makes ``3+4=7`` and ``3 + 4 = 7`` the same three words, and ``don't`` is
    ``don t`` on both sides of the comparison. It runs as pyarrow compute kernels over a whole batch,
    and the single-text function goes through the same kernels, so the index and the documents can
    never be normalized differently.

Hashing (stable across processes, runs and machines; `HASH_VERSION` names the scheme)
    Each distinct word gets a 64-bit keyed BLAKE2b digest (cached, computed once per word). The n-gram
    at position p is the polynomial ``h = t[p]*P^(n-1) + ... + t[p+n-1]`` modulo 2^64 (numpy uint64
    wrap-around, vectorised over the whole batch: one multiply-add pass per extra word, and the (n+1)-gram
    hashes are built from the n-gram ones, so a range of sizes costs hi passes, not the sum of sizes),
    then ``n`` is folded in and a splitmix64 finalizer mixes the bits. Stored as signed int64
    (DuckDB BIGINT) by reinterpreting the bits.

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
    result does not rely on that property of the index, and `Result.n` reports the size that gave it
    (the smallest on ties).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_VERSION = "hare-ngram-v1"
_KEY = HASH_VERSION.encode()
_MASK = (1 << 64) - 1
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial
_N_SALT = 0xD6E8FEB86659FD93
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PUNCT = r"[\p{P}\p{S}]+"
_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 2_000_000
_ITEM_CHUNK = 4096


# --------------------------------------------------------------------------- normalization + hashing

def _normalized_lists(texts: Sequence[str | None]) -> pa.Array:
    """Texts -> list<string> of normalized words (pyarrow kernels; None counts as empty)."""
    arr = pa.array(list(texts), pa.large_string()) if not isinstance(texts, (pa.Array, pa.ChunkedArray)) else texts
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr.cast(pa.large_string()), "")
    arr = pc.replace_substring_regex(pc.utf8_lower(arr), pattern=_PUNCT, replacement=" ")
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(arr))
    # An empty (or all-punctuation) text splits to [""]: drop empty words.
    words = lists.flatten()
    keep = pc.greater(pc.utf8_length(words), 0)
    if pc.all(keep).as_py() is not False:
        return lists
    parents = pc.list_parent_indices(lists).filter(keep).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parents, minlength=len(lists)))]).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(offsets), words.filter(keep))


def normalize_tokens(text: str) -> list[str]:
    """Lowercase, punctuation and symbols replaced by spaces, whitespace split."""
    return _normalized_lists([text])[0].as_py() or []


def _word_hash(word: str) -> int:
    h = _TOKEN_CACHE.get(word)
    if h is None:
        if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
            _TOKEN_CACHE.clear()
        h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8, key=_KEY).digest(), "little")
        _TOKEN_CACHE[word] = h
    return h


def _word_hashes(words: pa.Array | Sequence[str]) -> np.ndarray:
    """uint64 hash per word; each distinct word is hashed once (dictionary encoding)."""
    if not isinstance(words, pa.Array):
        words = pa.array(list(words), pa.large_string())
    if len(words) == 0:
        return np.zeros(0, np.uint64)
    enc = pc.dictionary_encode(words)
    table = np.fromiter((_word_hash(w) for w in enc.dictionary.to_pylist()), np.uint64, len(enc.dictionary))
    return table[enc.indices.to_numpy(zero_copy_only=False)]


def _batch_words(texts: Sequence[str | None]) -> tuple[pa.Array, np.ndarray]:
    """Flattened normalized words of a batch and the offsets (len(texts)+1) of each text in them."""
    lists = _normalized_lists(texts)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    flat = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return flat, offsets - offsets[0]


def _finalize(acc: np.ndarray, n: int) -> np.ndarray:
    """Fold in n, splitmix64 finalizer, reinterpret as signed int64."""
    z = acc + np.uint64((n * _N_SALT) & _MASK)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return z.view(np.int64)


def _ngram_passes(tok: np.ndarray, offsets: np.ndarray, ns: Sequence[int]):
    """Yields (n, positions, doc index per position, hashes) for each n in sorted `ns`.

    `tok` is the uint64 word hashes of several documents laid end to end, `offsets` their
    boundaries; only windows that stay inside one document are kept.
    """
    m = len(tok)
    lengths = np.diff(offsets)
    doc_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    end_of = offsets[1:][doc_of]
    acc = tok.copy()
    size = 1
    with np.errstate(over="ignore"):
        for n in sorted(set(ns)):
            if n < 1:
                raise ValueError(f"n-gram size must be >= 1, got {n}")
            if n > m:
                empty = np.zeros(0, np.int64)
                yield n, empty, empty, empty
                continue
            while size < n:
                acc = acc[:-1] * _P + tok[size:]
                size += 1
            pos = np.arange(m - n + 1, dtype=np.int64)
            valid = pos + n <= end_of[: m - n + 1]
            pos = pos[valid]
            yield n, pos, doc_of[pos], _finalize(acc[valid], n)


def ngram_hashes(tokens: Sequence[str], n: int) -> np.ndarray:
    """Signed 64-bit hashes of every n-gram of `tokens` (already normalized), in order."""
    tok = _word_hashes(tokens)
    [(_, _, _, hashes)] = list(_ngram_passes(tok, np.array([0, len(tok)], np.int64), [n]))
    return hashes


def ngram_sizes(spec: int | Sequence[int]) -> list[int]:
    """The n-gram sizes of a config value: N, or [lo, hi] inclusive."""
    if isinstance(spec, (int, np.integer)):
        lo = hi = int(spec)
    else:
        lo, hi = (int(x) for x in spec)
    if not 1 <= lo <= hi:
        raise ValueError(f"n-gram sizes must satisfy 1 <= lo <= hi, got {spec!r}")
    return list(range(lo, hi + 1))


# --------------------------------------------------------------------------- the benchmark index

NGRAM_SCHEMA = pa.schema([("n", pa.int16()), ("hash", pa.int64()), ("benchmark", pa.string()),
                          ("item_id", pa.string()), ("ngram", pa.string())])


def benchmark_ngram_rows(items: Iterable[tuple[str, str, str]], ns: Iterable[int]) -> pa.Table:
    """One row per distinct (n, hash, benchmark, item_id) over the items' normalized n-grams.

    `items` are (benchmark, item_id, text); `ngram` is the n-gram's words (its first occurrence in
    the item), so a match can be explained. Rows are ordered by item (first appearance), n, position.
    """
    ns = sorted(set(int(n) for n in ns))
    keys: dict[tuple[str, str], int] = {}
    key_list: list[tuple[str, str]] = []
    chunk: list[tuple[int, str]] = []
    tables: list[pa.Table] = []

    def flush() -> None:
        if chunk:
            tables.append(_item_rows([k for k, _ in chunk], [t for _, t in chunk], key_list, ns))
            chunk.clear()

    for bench, item_id, text in items:
        key = (str(bench), str(item_id))
        if key not in keys:
            keys[key] = len(key_list)
            key_list.append(key)
        chunk.append((keys[key], text))
        if len(chunk) >= _ITEM_CHUNK:
            flush()
    flush()
    if not tables:
        return NGRAM_SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    # Within a chunk rows are distinct per item key; a key repeated in two chunks could repeat rows.
    return _drop_duplicate_rows(table) if len(tables) > 1 else table


def _drop_duplicate_rows(table: pa.Table) -> pa.Table:
    grouped = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    first = grouped.group_by(["n", "hash", "benchmark", "item_id"], use_threads=False).aggregate([("_row", "min")])
    keep = np.sort(first["_row_min"].to_numpy())
    return table.take(pa.array(keep))


def _item_rows(keys: list[int], texts: list[str], key_list: list[tuple[str, str]], ns: list[int]) -> pa.Table:
    words, offsets = _batch_words(texts)
    tok = _word_hashes(words)
    word_list = words.to_pylist()
    key_arr = np.asarray(keys, np.int64)
    parts = []
    for n, pos, doc, hashes in _ngram_passes(tok, offsets, ns):
        if len(pos) == 0:
            continue
        key = key_arr[doc]
        order = np.lexsort((pos, hashes, key))  # by key, then hash, then position
        key_s, hash_s = key[order], hashes[order]
        first = np.ones(len(order), bool)
        first[1:] = (key_s[1:] != key_s[:-1]) | (hash_s[1:] != hash_s[:-1])
        sel = order[first]
        sel = sel[np.lexsort((pos[sel], key_arr[doc[sel]]))]  # back to item, position order
        parts.append((n, pos[sel], key_arr[doc[sel]], hashes[sel]))
    if not parts:
        return NGRAM_SCHEMA.empty_table()
    n_col = np.concatenate([np.full(len(p[1]), p[0], np.int16) for p in parts])
    pos_col = np.concatenate([p[1] for p in parts])
    key_col = np.concatenate([p[2] for p in parts])
    hash_col = np.concatenate([p[3] for p in parts])
    order = np.lexsort((pos_col, n_col, key_col))
    n_col, pos_col, key_col, hash_col = n_col[order], pos_col[order], key_col[order], hash_col[order]
    grams = [" ".join(word_list[p:p + n]) for p, n in zip(pos_col.tolist(), n_col.tolist())]
    return pa.table({
        "n": pa.array(n_col, pa.int16()),
        "hash": pa.array(hash_col, pa.int64()),
        "benchmark": pa.array([key_list[k][0] for k in key_col.tolist()], pa.string()),
        "item_id": pa.array([key_list[k][1] for k in key_col.tolist()], pa.string()),
        "ngram": pa.array(grams, pa.string()),
    }, schema=NGRAM_SCHEMA)


# --------------------------------------------------------------------------- scoring documents

@dataclass(frozen=True, slots=True)
class Result:
    """A document's repetition rate: the max over the spec's sizes (see the module docstring)."""

    rate: float
    n: int  # the n-gram size that gave the rate; 0 when the document is shorter than every size
    matched: int  # n-gram positions found in the index, at size n
    total: int  # n-gram positions of the document at size n (words - n + 1)
    first_match: int | None  # hash (signed int64) of the first matched n-gram, for explanations


def sorted_index(hashes: np.ndarray | Iterable[int]) -> np.ndarray:
    """A sorted, distinct int64 array from an array, set or iterable of hashes."""
    if isinstance(hashes, np.ndarray):
        return np.unique(hashes.astype(np.int64, copy=False))
    return np.unique(np.fromiter(hashes, np.int64))


class PreparedIndex(Mapping):
    """A benchmark index ready for scoring: sorted int64 hashes per n plus, built lazily once
    per n, the membership pre-check bitmap that `_member` would otherwise rebuild on every call.

    Made by `prepare_index`; `repetition_rates` and `repetition_rate` accept it wherever they accept
    the plain mapping. It holds its own read-only copies of the arrays, so the cached bitmaps cannot
    go stale when the caller's arrays change. It reads as a mapping n -> sorted array.
    """

    __slots__ = ("_arrays", "_prefilters")

    def __init__(self, arrays: dict[int, np.ndarray]):
        self._arrays = arrays
        self._prefilters: dict[int, tuple[np.ndarray, np.uint64] | None] = {}

    def __getitem__(self, n: int) -> np.ndarray:
        return self._arrays[n]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def prefilter(self, n: int) -> tuple[np.ndarray, np.uint64] | None:
        """The bitmap and shift of `_bitmap` for size n (built on first use, then reused)."""
        if n not in self._prefilters:
            self._prefilters[n] = _bitmap(self._arrays[n])
        return self._prefilters[n]


def _sorted_array(arr: np.ndarray | Iterable[int]) -> np.ndarray:
    is_sorted = isinstance(arr, np.ndarray) and arr.dtype == np.int64 and (
        len(arr) < 2 or bool(np.all(arr[1:] >= arr[:-1])))
    return arr if is_sorted else sorted_index(arr)


def prepare_index(index: Mapping[int, np.ndarray | Iterable[int]], ns: Iterable[int] | None = None) -> PreparedIndex:
    """Prepare an index (n -> hashes: array, set or iterable) once, for many `repetition_rates` calls.

    Keeps the sizes `ns` (default: all of the index's sizes); a size missing from the index is a
    KeyError. Passing a `PreparedIndex` returns it unchanged when it holds every size asked for.
    """
    if isinstance(index, PreparedIndex) and (ns is None or all(int(n) in index for n in ns)):
        return index
    out = {}
    for n in (sorted(index) if ns is None else ns):
        n = int(n)
        _check_size(index, n)
        arr = index[n]
        sorted_arr = _sorted_array(arr)
        if sorted_arr is arr:
            sorted_arr = arr.copy()  # our own copy: the caller may change theirs
        sorted_arr.flags.writeable = False
        out[n] = sorted_arr
    return PreparedIndex(out)


def _check_size(index: Mapping, n: int) -> None:
    if n not in index:
        raise KeyError(f"the benchmark index holds no {n}-grams (it has {sorted(index)}): "
                       f"rebuild benchmark_ngrams with the current decontamination.ngram config")


def _prepare_index(index: Mapping[int, np.ndarray | Iterable[int]], ns: Sequence[int]) -> Mapping[int, np.ndarray]:
    """The sorted arrays for `ns`: a `PreparedIndex` as it is, a plain mapping sorted (not copied)."""
    for n in ns:
        _check_size(index, n)
    if isinstance(index, PreparedIndex):
        return index
    return {n: _sorted_array(index[n]) for n in ns}


def _bitmap(index: np.ndarray) -> tuple[np.ndarray, np.uint64] | None:
    """Bitmap over the top bits of the sorted index's hashes (about 16 bits per entry), and the shift."""
    if len(index) == 0:
        return None
    bits = int(min(30, max(16, int(np.ceil(np.log2(16 * len(index)))))))
    shift = np.uint64(64 - bits)
    flags = np.zeros(1 << bits, bool)
    flags[index.view(np.uint64) >> shift] = True
    return np.packbits(flags, bitorder="little"), shift


def _member(hashes: np.ndarray, index: np.ndarray,
            prefilter: tuple[np.ndarray, np.uint64] | None = None) -> np.ndarray:
    """Boolean mask: hashes found in the sorted index.

    A bitmap over the top bits of the hashes (about 16 bits per index entry, so it stays in cache)
    rejects most misses at once; only the few candidates (true hits and ~1/16 false positives) pay
    for the binary search into the index, whose random accesses would otherwise dominate the time.
    `prefilter` is that bitmap from `_bitmap(index)` (a `PreparedIndex` keeps it); without it the
    bitmap is built here, which for a large index costs more than the lookup itself.
    """
    found = np.zeros(len(hashes), bool)
    if len(index) == 0 or len(hashes) == 0:
        return found
    bitmap, shift = prefilter if prefilter is not None else _bitmap(index)
    top = hashes.view(np.uint64) >> shift
    cand = np.flatnonzero((bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & 1)
    if len(cand):
        at = np.searchsorted(index, hashes[cand])
        np.minimum(at, len(index) - 1, out=at)
        found[cand] = index[at] == hashes[cand]
    return found


def _lookup(hashes: np.ndarray, index: Mapping[int, np.ndarray], n: int) -> np.ndarray:
    prefilter = index.prefilter(n) if isinstance(index, PreparedIndex) else None
    return _member(hashes, index[n], prefilter)


def _score(tok: np.ndarray, offsets: np.ndarray, index: Mapping[int, np.ndarray], ns: Sequence[int]):
    """Per document: best rate, its n, matched, total, first matched hash, and matched positions' hashes."""
    d = len(offsets) - 1
    best_rate = np.full(d, -1.0)
    best_n = np.zeros(d, np.int64)
    best_matched = np.zeros(d, np.int64)
    best_total = np.zeros(d, np.int64)
    best_first = np.zeros(d, np.int64)
    has_first = np.zeros(d, bool)
    for n, pos, doc, hashes in _ngram_passes(tok, offsets, ns):
        if len(pos) == 0:
            continue
        found = _lookup(hashes, index, n)
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


def repetition_rates(docs: Sequence[str], index: Mapping[int, np.ndarray], spec: int | Sequence[int]) -> list[Result]:
    """Repetition rates of a batch of documents against the index (sorted int64 hash array per n).

    Vectorised over the batch: the documents' words are hashed once, laid end to end, and every
    n-gram size is one numpy pass plus a binary search into the sorted index. For many batches
    against one index pass `prepare_index(index)`: a plain mapping works too (same results) but
    rebuilds the membership bitmap on every call, which is costly for a large index.
    """
    ns = ngram_sizes(spec)
    idx = _prepare_index(index, ns)
    if len(docs) == 0:
        return []
    words, offsets = _batch_words(docs)
    rate, n, matched, total, first, has_first = _score(_word_hashes(words), offsets, idx, ns)
    return [Result(float(r), int(k), int(m), int(t), int(f) if h else None)
            for r, k, m, t, f, h in zip(rate.tolist(), n.tolist(), matched.tolist(), total.tolist(),
                                         first.tolist(), has_first.tolist())]


def repetition_rate(doc_tokens: Sequence[str], index_hashes: Mapping[int, np.ndarray | set[int]],
                    spec: int | Sequence[int]) -> tuple[float, int, np.ndarray]:
    """One document's (rate, n used, distinct matched hashes at that n in document order).

    `doc_tokens` are normalized words (`normalize_tokens`); `index_hashes` maps n to a set or a
    sorted int64 array of benchmark n-gram hashes.
    """
    ns = ngram_sizes(spec)
    idx = _prepare_index(index_hashes, ns)
    tok = _word_hashes(doc_tokens)
    offsets = np.array([0, len(tok)], np.int64)
    rate, n, *_ = _score(tok, offsets, idx, ns)
    if n[0] == 0:
        return 0.0, 0, np.zeros(0, np.int64)
    [(_, _, _, hashes)] = list(_ngram_passes(tok, offsets, [int(n[0])]))
    hits = hashes[_lookup(hashes, idx, int(n[0]))]
    _, first = np.unique(hits, return_index=True)
    return float(rate[0]), int(n[0]), hits[np.sort(first)]
