"""N-gram overlap between documents and benchmark items (the paper's decontamination steps 2 and 3).

Pure code: no Dagster. The asset `benchmark_ngrams` stores the index built by `benchmark_ngram_rows`;
`decontaminated_documents` scores documents with `repetition_rates` against sorted hash arrays per n.

Normalization (`normalize_tokens`)
    Lowercase; every character that is not a letter, digit or other non-ASCII word character
    separates words: ASCII punctuation, symbols, whitespace and control characters, and the Unicode
    punctuation, symbol, separator and control classes (`\\p{P} \\p{S} \\p{Z} \\p{Cc}`: ``’ “ — …``,
    no-break and ideographic spaces). Separating (rather than deleting, as lm-eval's Janitor does)
    makes ``3+4=7`` and ``3 + 4 = 7`` the same three words, and ``don't`` is ``don t`` on both sides
    of the comparison. It runs over a whole batch's UTF-8 bytes in numpy: ASCII texts (nearly all
    English) take a byte-arithmetic path; only texts with non-ASCII characters pay for pyarrow's
    Unicode lowercase and regex first. The index and the documents go through the same code, and a
    test pins that both paths split text the same way.

Hashing (pure integer arithmetic: stable across processes, machines and numpy versions;
`HASH_VERSION` names the scheme, and a stored index of another version must be rebuilt)
    A word's hash is the polynomial of its UTF-8 bytes, ``b0*P^(k-1) + ... + b(k-1)`` mod 2^64, plus
    its length times a salt, through a splitmix64 finalizer. The n-gram at word position p is the
    polynomial of the word hashes ``t[p]*P^(n-1) + ... + t[p+n-1]`` mod 2^64, with ``n`` folded in and
    the same finalizer, stored as signed int64 (DuckDB BIGINT). Both polynomials are computed for
    every word / window at once from one prefix sum (`_PrefixSums`: ``S[i] = sum v[j] * P^-j``, a
    window is ``P^(end-1) * (S[end] - S[start])``), so a range of sizes costs one gather per size.
    Batches are cut into chunks of about 2 MB of text, scored on a thread pool (numpy and pyarrow
    release the GIL), with results independent of the thread count.

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

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_VERSION = "hare-ngram-v2"
_MASK = (1 << 64) - 1
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomials (words over bytes, n-grams over words)
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_N_SALT = 0xD6E8FEB86659FD93
_LEN_SALT = np.uint64(0xA0761D6478BD642F)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# Non-ASCII texts only: after Unicode lowercasing these runs become a space.
_SEPARATORS = r"[\p{P}\p{S}\p{Z}\p{Cc}]+"
_ASCII_SEPARATORS = r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+"  # every ASCII byte but a-z, A-Z, 0-9
_ITEM_CHUNK = 4096
_CHUNK_BYTES = 1 << 21  # texts are normalized and hashed in chunks of about 2 MB (bounded temporaries)


_POWERS: tuple[np.ndarray, np.ndarray] = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """P^j and P^-j (mod 2^64) for j < size, from a module cache grown by doubling."""
    global _POWERS
    pw, inv = _POWERS
    if len(pw) < size:
        k = max(size, 2 * len(pw))
        with np.errstate(over="ignore"):
            pw = np.concatenate([[np.uint64(1)], np.cumprod(np.full(k - 1, _P, np.uint64))])
            inv = np.concatenate([[np.uint64(1)], np.cumprod(np.full(k - 1, _P_INV, np.uint64))])
        pw.flags.writeable = inv.flags.writeable = False
        _POWERS = (pw, inv)  # one assignment: a concurrent reader sees the old or the new pair
    return pw, inv


class _PrefixSums:
    """Polynomial hashes of windows of a value sequence, all at once.

    With S[i] = sum_{j<i} values[j] * P^-j (mod 2^64; P is odd, so invertible), the window
    [start, end) has sum(values[j] * P^(end-1-j)) = P^(end-1) * (S[end] - S[start]): one cumulative
    sum, then two gathers and a multiply per window, whatever the window lengths.
    """

    def __init__(self, values: np.ndarray):
        self.powers, inverse = _powers(len(values) + 1)
        self.sums = np.zeros(len(values) + 1, np.uint64)
        with np.errstate(over="ignore"):
            np.multiply(values, inverse[:len(values)], out=self.sums[1:], dtype=np.uint64)
            np.cumsum(self.sums[1:], out=self.sums[1:])

    def windows(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self.powers[ends - 1] * (self.sums[ends] - self.sums[starts])


def _as_strings(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr.cast(pa.large_string()), "")


def _normalized_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, word mask, offsets): the texts' lowercase UTF-8 laid end to end, each followed by a
    space (so no word runs from one text into the next), and which bytes belong to words.

    A word byte is an ASCII letter or digit or any byte of a non-ASCII character; every other ASCII
    byte (punctuation, symbols, whitespace, control characters) separates words. Texts holding
    non-ASCII characters first get pyarrow's Unicode lowercase, and their runs of Unicode
    punctuation, symbols, separators and controls (`\\p{P}\\p{S}\\p{Z}\\p{Cc}`) become a space; ASCII
    texts (nearly all English text) never pay for the regex.
    """
    non_ascii = pc.invert(pc.string_is_ascii(texts))
    if pc.any(non_ascii).as_py():
        unicode_rows = pc.utf8_lower(texts.filter(non_ascii))
        unicode_rows = pc.replace_substring_regex(unicode_rows, pattern=_SEPARATORS, replacement=" ")
        texts = pc.replace_with_mask(texts, non_ascii, unicode_rows)
    space, empty = pa.scalar(" ", pa.large_string()), pa.scalar("", pa.large_string())
    texts = pc.ascii_lower(pc.binary_join_element_wise(texts, empty, space))  # text + " ", fresh buffer
    offsets = np.frombuffer(texts.buffers()[1], np.int64, len(texts) + 1, texts.offset * 8)
    data = np.frombuffer(texts.buffers()[2], np.uint8, int(offsets[-1]))[offsets[0]:]
    scratch = np.empty_like(data)
    inner = np.less(np.subtract(data, np.uint8(ord("a")), out=scratch), 26)
    inner |= np.less(np.subtract(data, np.uint8(ord("0")), out=scratch), 10)
    inner |= data >= 0x80
    return data, inner, offsets - offsets[0]


def _word_spans(inner: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, word offsets per text): the maximal runs of word bytes.

    Every text ends with a separator, so the runs never cross texts and the edges of the runs
    alternate start, end, start, end.
    """
    edges = np.flatnonzero(np.diff(inner, prepend=False))
    starts, ends = edges[0::2], edges[1::2]
    return starts, ends, np.searchsorted(starts, offsets).astype(np.int64)


def _span_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """uint64 hash of each byte span: the polynomial of its bytes (`_PrefixSums`), its length
    folded in, splitmix64-finalized. Pure arithmetic: the same on every machine and numpy version."""
    if len(starts) == 0:
        return np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        z = _PrefixSums(data).windows(starts, ends)
        z += (ends - starts).astype(np.uint64) * _LEN_SALT
        return _mix(z)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (in place on a fresh uint64 array)."""
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


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


@dataclass(frozen=True, slots=True)
class _Words:
    """Normalized words of some texts: their hashes end to end, and where each text's words begin."""

    hashes: np.ndarray  # uint64, one per word
    offsets: np.ndarray  # int64, len(texts) + 1
    data: np.ndarray  # the normalized bytes the words are spans of
    starts: np.ndarray
    ends: np.ndarray


def _words(texts: pa.Array) -> _Words:
    data, inner, offsets = _normalized_bytes(texts)
    starts, ends, word_offsets = _word_spans(inner, offsets)
    return _Words(_span_hashes(data, starts, ends), word_offsets, data, starts, ends)


def normalize_tokens(text: str | None) -> list[str]:
    """Lowercase; punctuation, symbols, whitespace and control characters separate words."""
    w = _words(_as_strings([text]))
    raw = w.data.tobytes()
    return [raw[s:e].decode("utf-8") for s, e in zip(w.starts.tolist(), w.ends.tolist())]


def _token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """uint64 hash of each given word, taken as it is (no normalization): the same as `_words` gives
    for that word inside a text."""
    encoded = [t.encode("utf-8") for t in tokens]
    lengths = np.fromiter((len(e) for e in encoded), np.int64, len(encoded))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    data = np.frombuffer(b" ".join(encoded), np.uint8)
    return _span_hashes(data, starts, starts + lengths)


def _finalize(acc: np.ndarray, n: int) -> np.ndarray:
    """Fold in n, splitmix64 finalizer, reinterpret as signed int64."""
    with np.errstate(over="ignore"):
        return _mix(acc + np.uint64((n * _N_SALT) & _MASK)).view(np.int64)


def _ngram_passes(tok: np.ndarray, offsets: np.ndarray, ns: Sequence[int]):
    """Yields (n, positions, doc index per position, hashes) for each n in sorted `ns`.

    `tok` is the uint64 word hashes of several documents laid end to end, `offsets` their
    boundaries; only windows that stay inside one document are kept. The n-gram at p is the
    polynomial t[p]*P^(n-1) + ... + t[p+n-1] (mod 2^64), from one `_PrefixSums` for every n.
    """
    lengths = np.diff(offsets)
    docs = np.arange(len(lengths), dtype=np.int64)
    prefix = None
    for n in sorted(set(ns)):
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        counts = np.maximum(lengths - n + 1, 0)
        doc = np.repeat(docs, counts)
        if len(doc) == 0:
            empty = np.zeros(0, np.int64)
            yield n, empty, empty, empty
            continue
        first = np.cumsum(counts) - counts  # where each document's windows begin in the output
        pos = np.arange(len(doc), dtype=np.int64) + (offsets[:-1] - first)[doc]
        if prefix is None:
            prefix = _PrefixSums(tok)
        yield n, pos, doc, _finalize(prefix.windows(pos, pos + n), n)


def ngram_hashes(tokens: Sequence[str], n: int) -> np.ndarray:
    """Signed 64-bit hashes of every n-gram of `tokens` (already normalized), in order."""
    tok = _token_hashes(tokens)
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
    words = _words(_as_strings(texts))
    key_arr = np.asarray(keys, np.int64)
    parts = []
    for n, pos, doc, hashes in _ngram_passes(words.hashes, words.offsets, ns):
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
    keys_table = pa.table({"benchmark": [k[0] for k in key_list], "item_id": [k[1] for k in key_list]})
    return pa.table({
        "n": pa.array(n_col, pa.int16()),
        "hash": pa.array(hash_col, pa.int64()),
        "benchmark": keys_table["benchmark"].take(key_col).combine_chunks(),
        "item_id": keys_table["item_id"].take(key_col).combine_chunks(),
        "ngram": _ngram_texts(words, pos_col, n_col.astype(np.int64)),
    }, schema=NGRAM_SCHEMA)


def _ngram_texts(words: _Words, pos: np.ndarray, n: np.ndarray) -> pa.Array:
    """The n-grams' words joined by single spaces: one gather of their byte ranges, no Python loop."""
    lo, hi = words.starts[pos], words.ends[pos + n - 1]
    lengths = hi - lo
    out_offsets = np.zeros(len(lo) + 1, np.int64)
    np.cumsum(lengths, out=out_offsets[1:])
    gather = np.repeat(lo - out_offsets[:-1], lengths) + np.arange(out_offsets[-1])
    spans = pa.LargeStringArray.from_buffers(len(lo), pa.py_buffer(out_offsets), pa.py_buffer(words.data[gather]))
    return pc.replace_substring_regex(spans, pattern=_ASCII_SEPARATORS, replacement=" ").cast(pa.string())


class Explainer:
    """hash -> (benchmark, item_id, ngram) over a `benchmark_ngram_rows` table: a sorted hash array and
    a binary search, not a Python dict (an index of all six benchmarks at several sizes has tens of
    millions of rows). A hash shared by several items explains itself with one of them."""

    def __init__(self, table: pa.Table):
        hashes = table["hash"].to_numpy()
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]
        self._rows = table.select(["benchmark", "item_id", "ngram"])

    def lookup(self, hashes: Sequence[int | None]) -> list[tuple[str | None, str | None, str | None]]:
        out: list[tuple[str | None, str | None, str | None]] = [(None, None, None)] * len(hashes)
        wanted = [(k, h) for k, h in enumerate(hashes) if h is not None]
        if not wanted or len(self._sorted) == 0:
            return out
        keys = np.array([h for _, h in wanted], np.int64)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        found = self._sorted[at] == keys
        rows = self._rows.take(pa.array(self._order[at[found]])).to_pylist()
        for (k, _), row in zip([w for w, f in zip(wanted, found.tolist()) if f], rows):
            out[k] = (row["benchmark"], row["item_id"], row["ngram"])
        return out


# --------------------------------------------------------------------------- scoring documents

class Result(NamedTuple):
    """A document's repetition rate: the max over the spec's sizes (see the module docstring).
    A named tuple: a batch makes one per document, and a tuple is made several times faster."""

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
        # Sorted queries: numpy's binary search starts from the previous key's result, so the
        # searches walk the index in order instead of jumping around it (4x faster on a 3M index).
        keys = hashes[cand]
        order = np.argsort(keys)
        keys = keys[order]
        at = np.searchsorted(index, keys)
        np.minimum(at, len(index) - 1, out=at)
        found[cand[order]] = index[at] == keys
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


def repetition_rates(docs: Sequence[str | None] | pa.Array | pa.ChunkedArray, index: Mapping[int, np.ndarray],
                     spec: int | Sequence[int], *, threads: int | None = None) -> list[Result]:
    """Repetition rates of a batch of documents against the index (sorted int64 hash array per n).

    Vectorised over the batch: the texts are normalized and their words hashed in numpy over the
    UTF-8 bytes (`_words`), every n-gram size is one numpy pass plus a bitmap pre-check and a binary
    search into the sorted index. The batch is cut into chunks of about `_CHUNK_BYTES`, scored on
    `threads` threads (default: every core; numpy and pyarrow release the GIL in these loops), and
    the results are the same for any thread count. For many batches against one index pass
    `prepare_index(index)`: a plain mapping works too (same results) but rebuilds the membership
    bitmap on every call, which is costly for a large index.
    """
    ns = ngram_sizes(spec)
    idx = _prepare_index(index, ns)
    texts = _as_strings(docs)
    if len(texts) == 0:
        return []
    threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
    if isinstance(idx, PreparedIndex):
        for n in ns:
            idx.prefilter(n)  # built here once, not raced for by the threads
    else:
        idx = PreparedIndex({n: idx[n] for n in ns})  # this call's bitmaps, shared by its chunks

    def score(chunk: pa.Array):
        words = _words(chunk)
        return _score(words.hashes, words.offsets, idx, ns)

    chunks = list(_chunks(texts, threads))
    if threads > 1 and len(chunks) > 1:
        parts = list(_executor(threads).map(score, chunks))
    else:
        parts = [score(c) for c in chunks]
    rate, n, matched, total, first, has_first = (np.concatenate(col) for col in zip(*parts))
    first_match = np.where(has_first, first, None).tolist()
    return list(map(Result._make, zip(rate.tolist(), n.tolist(), matched.tolist(), total.tolist(), first_match)))


_EXECUTORS: dict[int, ThreadPoolExecutor] = {}


def _executor(threads: int) -> ThreadPoolExecutor:
    if threads not in _EXECUTORS:
        _EXECUTORS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="hare-ngrams")
    return _EXECUTORS[threads]


def repetition_rate(doc_tokens: Sequence[str], index_hashes: Mapping[int, np.ndarray | set[int]],
                    spec: int | Sequence[int]) -> tuple[float, int, np.ndarray]:
    """One document's (rate, n used, distinct matched hashes at that n in document order).

    `doc_tokens` are normalized words (`normalize_tokens`); `index_hashes` maps n to a set or a
    sorted int64 array of benchmark n-gram hashes.
    """
    ns = ngram_sizes(spec)
    idx = _prepare_index(index_hashes, ns)
    tok = _token_hashes(doc_tokens)
    offsets = np.array([0, len(tok)], np.int64)
    rate, n, *_ = _score(tok, offsets, idx, ns)
    if n[0] == 0:
        return 0.0, 0, np.zeros(0, np.int64)
    [(_, _, _, hashes)] = list(_ngram_passes(tok, offsets, [int(n[0])]))
    hits = hashes[_lookup(hashes, idx, int(n[0]))]
    _, first = np.unique(hits, return_index=True)
    return float(rate[0]), int(n[0]), hits[np.sort(first)]
