"""The benchmark n-gram index: its rows, the sorted hash arrays scoring searches, and explanations.

Pure code: no Dagster. The asset `benchmark_ngrams` stores the rows of `benchmark_ngram_rows` (one
per distinct n-gram of each benchmark item, `NGRAM_SCHEMA`); `prepare_index` turns their hashes into
a `PreparedIndex` (sorted int64 arrays per n and a membership bitmap per n) for `scoring.py`, and
`Explainer` maps a matched hash back to its benchmark, item and n-gram.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from hare_assets.core.overlap.hashing import as_strings, hash_words, ngram_windows

NGRAM_SCHEMA = pa.schema([("n", pa.int16()), ("hash", pa.int64()), ("benchmark", pa.string()),
                          ("item_id", pa.string()), ("ngram", pa.string())])
_ITEM_CHUNK = 4096


# --------------------------------------------------------------------------- the index rows

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
    words = hash_words(as_strings(texts))
    key_arr = np.asarray(keys, np.int64)
    parts = []
    for n, pos, doc, hashes in ngram_windows(words.hashes, words.offsets, ns):
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
        "ngram": words.ngram_texts(pos_col, n_col.astype(np.int64)),
    }, schema=NGRAM_SCHEMA)


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


def index_from_table(table: pa.Table) -> tuple[dict[int, np.ndarray], Explainer]:
    """Sorted hash arrays per n of a stored `benchmark_ngrams` table, and the explainer of a hash."""
    n_col = table["n"].to_numpy()
    hashes = table["hash"].to_numpy()
    return {int(n): np.unique(hashes[n_col == n]) for n in np.unique(n_col)}, Explainer(table)


# --------------------------------------------------------------------------- the index for scoring

def sorted_index(hashes: np.ndarray | Iterable[int]) -> np.ndarray:
    """A sorted, distinct int64 array from an array, set or iterable of hashes."""
    if isinstance(hashes, np.ndarray):
        return np.unique(hashes.astype(np.int64, copy=False))
    return np.unique(np.fromiter(hashes, np.int64))


class PreparedIndex(Mapping):
    """A benchmark index ready for scoring: sorted int64 hashes per n plus, built lazily once
    per n, the membership pre-check bitmap of `isin`.

    Made by `prepare_index`, which `repetition_rates` calls on whatever index it is given (a
    `PreparedIndex` comes back unchanged). It holds its own read-only copies of the arrays, so the
    cached bitmaps cannot go stale when the caller's arrays change. It reads as a mapping n -> sorted array.
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

    def isin(self, hashes: np.ndarray, n: int) -> np.ndarray:
        """Boolean mask: the int64 hashes found among the index's n-grams.

        A bitmap over the top bits of the hashes (about 16 bits per index entry, so it stays in cache)
        rejects most misses at once; only the few candidates (true hits and ~1/16 false positives) pay
        for the binary search into the index, whose random accesses would otherwise dominate the time.
        """
        index = self._arrays[n]
        found = np.zeros(len(hashes), bool)
        if len(index) == 0 or len(hashes) == 0:
            return found
        bitmap, shift = self.prefilter(n)
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


def _bitmap(index: np.ndarray) -> tuple[np.ndarray, np.uint64] | None:
    """Bitmap over the top bits of the sorted index's hashes (about 16 bits per entry), and the shift."""
    if len(index) == 0:
        return None
    bits = int(min(30, max(16, int(np.ceil(np.log2(16 * len(index)))))))
    shift = np.uint64(64 - bits)
    flags = np.zeros(1 << bits, bool)
    flags[index.view(np.uint64) >> shift] = True
    return np.packbits(flags, bitorder="little"), shift
