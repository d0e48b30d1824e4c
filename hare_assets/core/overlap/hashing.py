"""Word normalization and the vectorized word / n-gram hashes (hare-ngram-v2) of decontamination.

Pure code: no Dagster. The benchmark index (`index.py`) and the documents scored against it
(`scoring.py`) go through the same code here.

Normalization (`normalize_tokens`)
    Lowercase; every character that is not a letter, digit or other non-ASCII word character
    separates words: ASCII punctuation, symbols, whitespace and control characters, and the Unicode
    punctuation, symbol, separator and control classes (`\\p{P} \\p{S} \\p{Z} \\p{Cc}`: ``’ “ — …``,
    no-break and ideographic spaces). Separating (rather than deleting, as lm-eval's Janitor does)
    makes ``3+4=7`` and ``3 + 4 = 7`` the same three words, and ``don't`` is ``don t`` on both sides
    of the comparison. It runs over a whole batch's UTF-8 bytes in numpy: ASCII texts (nearly all
    English) take a byte-arithmetic path; only texts with non-ASCII characters pay for pyarrow's
    Unicode lowercase and regex first. A test pins that both paths split text the same way.

Hashing (pure integer arithmetic: stable across processes, machines and numpy versions;
`HASH_VERSION` names the scheme, and a stored index of another version must be rebuilt)
    A word's hash is the polynomial of its UTF-8 bytes, ``b0*P^(k-1) + ... + b(k-1)`` mod 2^64, plus
    its length times a salt, through a splitmix64 finalizer. The n-gram at word position p is the
    polynomial of the word hashes ``t[p]*P^(n-1) + ... + t[p+n-1]`` mod 2^64, with ``n`` folded in and
    the same finalizer, stored as signed int64 (DuckDB BIGINT). Both polynomials are computed for
    every word / window at once from one prefix sum (`_PrefixSums`: ``S[i] = sum v[j] * P^-j``, a
    window is ``P^(end-1) * (S[end] - S[start])``), so a range of sizes costs one gather per size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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


def as_strings(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """The texts as one large_string array, nulls as empty texts."""
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


@dataclass(frozen=True, slots=True)
class Words:
    """Normalized words of some texts: their hashes end to end, and where each text's words begin."""

    hashes: np.ndarray  # uint64, one per word
    offsets: np.ndarray  # int64, len(texts) + 1
    data: np.ndarray  # the normalized bytes the words are spans of
    starts: np.ndarray
    ends: np.ndarray

    def ngram_texts(self, pos: np.ndarray, n: np.ndarray) -> pa.Array:
        """The n-grams (word positions `pos`, sizes `n`) as their words joined by single spaces: one
        gather of their byte ranges, no Python loop."""
        lo, hi = self.starts[pos], self.ends[pos + n - 1]
        lengths = hi - lo
        out_offsets = np.zeros(len(lo) + 1, np.int64)
        np.cumsum(lengths, out=out_offsets[1:])
        gather = np.repeat(lo - out_offsets[:-1], lengths) + np.arange(out_offsets[-1])
        spans = pa.LargeStringArray.from_buffers(len(lo), pa.py_buffer(out_offsets), pa.py_buffer(self.data[gather]))
        return pc.replace_substring_regex(spans, pattern=_ASCII_SEPARATORS, replacement=" ").cast(pa.string())


def hash_words(texts: pa.Array) -> Words:
    """The normalized words of a large_string array (`as_strings`), hashed."""
    data, inner, offsets = _normalized_bytes(texts)
    starts, ends, word_offsets = _word_spans(inner, offsets)
    return Words(_span_hashes(data, starts, ends), word_offsets, data, starts, ends)


def normalize_tokens(text: str | None) -> list[str]:
    """Lowercase; punctuation, symbols, whitespace and control characters separate words."""
    w = hash_words(as_strings([text]))
    raw = w.data.tobytes()
    return [raw[s:e].decode("utf-8") for s, e in zip(w.starts.tolist(), w.ends.tolist())]


def _token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """uint64 hash of each given word, taken as it is (no normalization): the same as `hash_words`
    gives for that word inside a text."""
    encoded = [t.encode("utf-8") for t in tokens]
    lengths = np.fromiter((len(e) for e in encoded), np.int64, len(encoded))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    data = np.frombuffer(b" ".join(encoded), np.uint8)
    return _span_hashes(data, starts, starts + lengths)


def _finalize(acc: np.ndarray, n: int) -> np.ndarray:
    """Fold in n, splitmix64 finalizer, reinterpret as signed int64."""
    with np.errstate(over="ignore"):
        return _mix(acc + np.uint64((n * _N_SALT) & _MASK)).view(np.int64)


def ngram_windows(tok: np.ndarray, offsets: np.ndarray,
                  ns: Sequence[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
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
    [(_, _, _, hashes)] = list(ngram_windows(tok, np.array([0, len(tok)], np.int64), [n]))
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
