"""Benchmark n-gram hashing, index and repetition rates (hare_assets/core/overlap/: hashing.py, index.py,
scoring.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hare_assets.core.overlap.hashing import (
    HASH_VERSION,
    ngram_hashes,
    ngram_sizes,
    normalize_tokens,
)
from hare_assets.core.overlap.index import NGRAM_SCHEMA, benchmark_ngram_rows
from hare_assets.core.overlap.scoring import OverlapScores, repetition_rates

GSM_ITEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May? Natalia sold 48/2 = 24 clips in May. "
            "Natalia sold 48+24 = 72 clips altogether in April and May. #### 72")
ARC_ITEM = ("Which of the following statements best explains why magnets usually stick to a refrigerator door? "
            "The refrigerator door is smooth. The refrigerator door contains iron. The refrigerator door is a good "
            "conductor. The refrigerator door has electric wires in it. Answer: The refrigerator door contains iron.")
ITEMS = [("gsm8k", "test/0", GSM_ITEM), ("arc_challenge", "test/Mercury_7220990", ARC_ITEM),
         ("winogrande", "dev/1", "The trophy doesn't fit into the brown suitcase because the _ is too large.")]
UNRELATED = ("The river delta formed over thousands of years as sediment carried from the mountains settled in the "
             "shallow bay, creating fertile marshland that early farmers drained for rice paddies and orchards. "
             "Today the region exports citrus fruit, and ferries connect its islands with the port city.")


def build_index(items, ns):
    table = benchmark_ngram_rows(items, ns)
    return table, {int(n): np.unique(table.filter(pc.equal(table["n"], n))["hash"].to_numpy())
                   for n in pc.unique(table["n"]).to_pylist()}


# --------------------------------------------------------------------------- normalization and hashing

def test_normalize_tokens():
    assert normalize_tokens("Hello, World!  Don't stop—3+4=7.") == ["hello", "world", "don", "t", "stop", "3", "4", "7"]
    assert normalize_tokens("“Naïve” CAFÉ\u3000déjà-vu\n\tx_y") == ["naïve", "café", "déjà", "vu", "x", "y"]
    assert normalize_tokens("  padded  ") == ["padded"]
    assert normalize_tokens("") == [] and normalize_tokens("!!! ...") == [] and normalize_tokens(None) == []
    # Spacing around punctuation does not matter.
    assert normalize_tokens("3+4=7, (a)") == normalize_tokens("3 + 4 = 7 ( a )")


M64 = (1 << 64) - 1
P = 0x9E3779B97F4A7C15


def _splitmix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def reference_ngram_hashes(words: list[str], n: int) -> list[int]:
    """The hash scheme written out one word and one n-gram at a time, in plain Python integers."""
    def word_hash(w: str) -> int:
        acc = 0
        for b in w.encode("utf-8"):
            acc = (acc * P + b) & M64
        return _splitmix((acc + len(w.encode("utf-8")) * 0xA0761D6478BD642F) & M64)

    t = [word_hash(w) for w in words]
    out = []
    for p in range(len(t) - n + 1):
        acc = 0
        for x in t[p:p + n]:
            acc = (acc * P + x) & M64
        h = _splitmix((acc + n * 0xD6E8FEB86659FD93) & M64)
        out.append(h - (1 << 64) if h >= 1 << 63 else h)
    return out


def test_hashes_are_fixed_values():
    """A change in the hashing must be deliberate (bump HASH_VERSION: stored indexes must be rebuilt)."""
    assert HASH_VERSION == "hare-ngram-v2"
    words = ["the", "quick", "brown", "fox"]
    assert ngram_hashes(words, 3).tolist() == [-6328866559233850108, -9077303697630361433]
    assert ngram_hashes(words, 1).tolist() == [-942115180079192328, 6925335096528438621,
                                               -9011859964857124017, -4117714166245664255]


def test_vectorized_hashes_equal_the_scheme_written_out():
    rng = np.random.default_rng(5)
    vocab = ["a", "zebra", "naïve", "42", "x" * 40, "déjà", "東京", "0", "supercalifragilistic"]
    words = [vocab[i] for i in rng.integers(0, len(vocab), 300)]
    for n in (1, 2, 4, 13):
        assert ngram_hashes(words, n).tolist() == reference_ngram_hashes(words, n)
    # Inside a batch of texts, the words and n-grams hash the same as alone.
    texts = [" ".join(words[:50]), "", "One, two; THREE four!", " ".join(words[50:200])]
    table = benchmark_ngram_rows([("b", str(i), t) for i, t in enumerate(texts)], [4])
    got = {(r["item_id"], r["hash"]) for r in table.to_pylist()}
    want = {(str(i), h) for i, t in enumerate(texts) for h in reference_ngram_hashes(normalize_tokens(t), 4)}
    assert got == want


def test_hashes_stable_across_processes():
    code = ("from hare_assets.core.overlap.hashing import ngram_hashes as h;"
            "print(h(['the','quick','brown','fox'], 3).tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert outs == {"[-6328866559233850108, -9077303697630361433]"}


def test_ascii_fast_path_and_unicode_path_give_the_same_words():
    """ASCII texts skip pyarrow's Unicode kernels; on ASCII text both paths must split identically."""
    from hare_assets.core.overlap.hashing import _SEPARATORS

    rng = np.random.default_rng(1)
    alphabet = [chr(c) for c in range(128)] + ["é", "ß", "—", "\u3000", "\u00a0", "’", "東", "É", "\u2028", "\x85"]
    texts = ["".join(alphabet[i] for i in rng.integers(0, len(alphabet), int(rng.integers(0, 60))))
             for _ in range(400)]
    reference = pc.utf8_split_whitespace(pc.replace_substring_regex(
        pc.utf8_lower(pa.array(texts)), pattern=_SEPARATORS, replacement=" "))
    for text, words in zip(texts, reference.to_pylist()):
        assert normalize_tokens(text) == [w for w in words if w], repr(text)
    # A batch mixing ASCII and non-ASCII texts gives each text the words it gets alone.
    rows = repetition_rates(texts, {1: np.zeros(0, np.int64)}, 1)
    assert [r.total for r in rows] == [len(normalize_tokens(t)) for t in texts]


def test_ngram_hashes_shape_and_position_independence():
    words = normalize_tokens("a b c d a b c")
    h = ngram_hashes(words, 3)
    assert h.dtype == np.int64 and len(h) == 5
    assert h[0] == h[4] and len(set(h.tolist())) == 4
    assert len(ngram_hashes(words, 8)) == 0 and len(ngram_hashes([], 1)) == 0
    # n is part of the hash: the same words never collide across sizes.
    assert ngram_hashes(["x"], 1)[0] != ngram_hashes(["x", "x"], 2)[0]


def test_ngram_sizes():
    assert ngram_sizes(13) == [13]
    assert ngram_sizes((10, 15)) == [10, 11, 12, 13, 14, 15]
    assert ngram_sizes([4, 4]) == [4]
    with pytest.raises(ValueError):
        ngram_sizes((8, 4))
    with pytest.raises(ValueError):
        ngram_sizes(0)


# --------------------------------------------------------------------------- the index

def test_benchmark_ngram_rows_schema_and_distinct_rows():
    items = [("gsm8k", "a", "one two three one two three"), ("gsm8k", "b", "one two three"),
             ("mmlu", "c", "short")]
    table = benchmark_ngram_rows(items, [2, 3])
    assert table.schema == NGRAM_SCHEMA
    rows = table.to_pylist()
    keys = [(r["n"], r["hash"], r["benchmark"], r["item_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    a3 = [r["ngram"] for r in rows if r["item_id"] == "a" and r["n"] == 3]
    assert a3 == ["one two three", "two three one", "three one two"]
    assert [r["ngram"] for r in rows if r["item_id"] == "a" and r["n"] == 2] == ["one two", "two three", "three one"]
    # The same n-gram in two items: one row each, same hash.
    h = {(r["item_id"], r["ngram"]): r["hash"] for r in rows}
    assert h[("a", "one two three")] == h[("b", "one two three")] == ngram_hashes(["one", "two", "three"], 3)[0]
    assert not any(r["item_id"] == "c" for r in rows)  # one word: no 2-grams
    assert benchmark_ngram_rows([], [3]).num_rows == 0


def test_benchmark_ngram_rows_across_chunks(monkeypatch):
    import hare_assets.core.overlap.index as ix

    monkeypatch.setattr(ix, "_ITEM_CHUNK", 2)
    items = ITEMS + [("gsm8k", "test/0", GSM_ITEM)]  # a repeated key in another chunk
    chunked = benchmark_ngram_rows(items, [4, 13])
    monkeypatch.setattr(ix, "_ITEM_CHUNK", 4096)
    whole = benchmark_ngram_rows(items, [4, 13])
    assert chunked.sort_by([("n", "ascending"), ("hash", "ascending"), ("item_id", "ascending")]).equals(
        whole.sort_by([("n", "ascending"), ("hash", "ascending"), ("item_id", "ascending")]))


# --------------------------------------------------------------------------- repetition rates

def test_verbatim_quote_inside_prose_is_flagged():
    table, index = build_index(ITEMS, [13, *range(4, 9)])
    doc = ("Here is a homework question from my notes. " + GSM_ITEM + " I think the answer is right.")
    [d1, d3, clean] = [repetition_rates([doc], index, 13)[0], repetition_rates([doc], index, (4, 8))[0],
                       repetition_rates([UNRELATED], index, 13)[0]]
    assert d1.rate > 0.5 and d1.n == 13 and d1.matched > 0
    assert d3.rate > d1.rate > 0.5
    # The first match explains the hit: it is an n-gram of the gsm8k item.
    explain = {r["hash"]: r for r in table.to_pylist()}
    assert explain[d1.first_match]["benchmark"] == "gsm8k" and explain[d1.first_match]["item_id"] == "test/0"
    assert explain[d1.first_match]["ngram"].startswith("natalia sold clips")
    assert clean.rate == 0.0 and clean.first_match is None and clean.total > 0
    assert repetition_rates([UNRELATED], index, (4, 8))[0].rate < 0.05


def test_rate_counts_positions_with_multiplicity():
    words = normalize_tokens(GSM_ITEM)
    _, index = build_index(ITEMS, [4])
    twice = " ".join(words + words)
    r = repetition_rates([twice], index, 4)[0]
    # Every window inside either copy matches; the 3 windows straddling the join do not.
    assert r.total == 2 * len(words) - 3 and r.matched == 2 * (len(words) - 3)


def test_range_policy_is_max_over_sizes():
    _, index = build_index(ITEMS, range(4, 9))
    # Benchmark words shuffled into 4- and 5-word runs: many 4-grams match, few 8-grams.
    w = normalize_tokens(ARC_ITEM)
    doc = " ".join(w[0:5] + ["zebra"] + w[10:15] + ["yak"] + w[20:24] + ["xylophone", "walrus"])
    per_n = {n: repetition_rates([doc], index, n)[0] for n in range(4, 9)}
    r = repetition_rates([doc], index, (4, 8))[0]
    assert r.rate == max(x.rate for x in per_n.values()) == per_n[4].rate
    assert r.n == 4 and per_n[8].rate == 0.0
    # The max does not assume the rate falls with n: with only 6-grams indexed at size 6 matching,
    # the range picks n = 6.
    sparse = {n: np.zeros(0, np.int64) for n in range(4, 9)}
    sparse[6] = index[6]
    r6 = repetition_rates([" ".join(w)], sparse, (4, 8))[0]
    assert r6.n == 6 and r6.rate == 1.0 and r6.total == len(w) - 5


def test_short_documents_skip_sizes_longer_than_them():
    _, index = build_index(ITEMS, range(4, 9))
    w = normalize_tokens(ARC_ITEM)
    five = " ".join(w[:5])  # sizes 6..8 are skipped; 4 and 5 both match fully
    r = repetition_rates([five], index, (4, 8))[0]
    assert (r.rate, r.n, r.total) == (1.0, 4, 2)
    for short in ("only three words", "", "!!!"):
        assert repetition_rates([short], index, (4, 8))[0] == OverlapScores(0.0, 0, 0, 0, None)


def reference_scores(doc: str, sets: dict[int, set[int]], ns) -> OverlapScores:
    """The rate rule written out one document and one size at a time over Python sets of hashes:
    the max over sizes of matched / total positions, the smallest size on ties, and the first matched
    n-gram of that size in document order."""
    best = OverlapScores(0.0, 0, 0, 0, None)
    for n in ns:
        hashes = ngram_hashes(normalize_tokens(doc), n).tolist()
        if not hashes:
            continue
        hits = [h for h in hashes if h in sets[n]]
        if best.n == 0 or len(hits) / len(hashes) > best.rate:
            best = OverlapScores(len(hits) / len(hashes), n, len(hits), len(hashes), hits[0] if hits else None)
    return best


def test_batch_matches_each_document_scored_alone_and_the_rule_written_out():
    table, index = build_index(ITEMS, range(10, 16))
    docs = [UNRELATED, "Intro. " + ARC_ITEM, GSM_ITEM + " " + UNRELATED, "", "x y"]
    batch = repetition_rates(docs, index, (10, 15))
    sets = {n: set(a.tolist()) for n, a in index.items()}
    assert repetition_rates(docs, sets, (10, 15)) == batch
    for doc, res in zip(docs, batch):
        assert repetition_rates([doc], index, (10, 15)) == [res]
        assert res == reference_scores(doc, sets, range(10, 16))
        if res.first_match is not None:
            assert res.first_match in sets[res.n]
    assert any(r.matched for r in batch) and any(r.n == 0 for r in batch)
    assert repetition_rates([], index, (10, 15)) == []


def test_missing_size_in_index_is_an_error():
    _, index = build_index(ITEMS, [13])
    with pytest.raises(KeyError, match="no 10-grams"):
        repetition_rates(["a b c"], index, (10, 15))


def test_unsorted_index_arrays_are_accepted():
    _, index = build_index(ITEMS, [5])
    shuffled = {5: np.random.default_rng(0).permutation(index[5])}
    assert repetition_rates([ARC_ITEM], shuffled, 5) == repetition_rates([ARC_ITEM], index, 5)
    assert repetition_rates([ARC_ITEM], index, 5)[0].rate == 1.0


def test_index_table_is_pyarrow():
    table, _ = build_index(ITEMS + [("truthfulqa", "0", "What happens if you eat watermelon seeds?")], [13])
    assert isinstance(table, pa.Table)
    # The truthfulqa question has 7 words: no 13-gram.
    assert set(table["benchmark"].to_pylist()) == {"gsm8k", "arc_challenge", "winogrande"}


def test_membership_prefilter_agrees_with_isin():
    from hare_assets.core.overlap.index import prepare_index

    rng = np.random.default_rng(0)
    index = np.unique(rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 50_000, dtype=np.int64))
    queries = np.concatenate([rng.choice(index, 5_000), rng.integers(-2**63, 2**63 - 1, 200_000, dtype=np.int64),
                              index[:1] + 1, index[-1:]])
    assert np.array_equal(prepare_index({1: index}).isin(queries, 1), np.isin(queries, index))
    assert not prepare_index({1: np.zeros(0, np.int64)}).isin(queries, 1).any()
    # A set is accepted as the index too.
    _, idx = build_index(ITEMS, [5])
    assert repetition_rates([ARC_ITEM], {5: set(idx[5].tolist())}, 5)[0].rate == 1.0


def test_prepared_index_gives_the_same_results_as_the_plain_mapping():
    from hare_assets.core.overlap.index import PreparedIndex, prepare_index

    _, index = build_index(ITEMS, range(4, 16))
    rng = np.random.default_rng(3)
    # A large random part makes the bitmap wider than the minimum and adds many non-matching entries.
    big = {n: np.unique(np.concatenate([a, rng.integers(-2**63, 2**63 - 1, 300_000, dtype=np.int64)]))
           for n, a in index.items()}
    prepared = prepare_index(big)
    assert isinstance(prepared, PreparedIndex) and sorted(prepared) == sorted(big)
    assert prepare_index(prepared) is prepared
    words = UNRELATED.split()
    docs = [UNRELATED, "Intro. " + ARC_ITEM, GSM_ITEM + " " + UNRELATED, "", "x y", GSM_ITEM + " " + GSM_ITEM,
            " ".join(words[:6] + ARC_ITEM.split()[:9] + words[6:])]
    for spec in (13, (4, 8), (10, 15), 5):
        expected = repetition_rates(docs, big, spec)
        assert repetition_rates(docs, prepared, spec) == expected
        assert repetition_rates(docs, prepare_index(big, ngram_sizes(spec)), spec) == expected
        # Repeated calls reuse the cached bitmaps and still agree.
        assert repetition_rates(docs, prepared, spec) == expected
        assert any(r.matched for r in expected)
        # One document at a time, the plain mapping and the prepared index agree too.
        for doc, want in zip(docs, expected):
            assert repetition_rates([doc], big, spec) == repetition_rates([doc], prepared, spec) == [want]
    # Sets and unsorted arrays are prepared like the plain path accepts them.
    loose = {5: set(index[5].tolist()), 13: np.random.default_rng(0).permutation(index[13])}
    assert repetition_rates([ARC_ITEM], prepare_index(loose), 5) == repetition_rates([ARC_ITEM], loose, 5)
    assert repetition_rates([ARC_ITEM], prepare_index(loose), 13) == repetition_rates([ARC_ITEM], loose, 13)
    # The prepared index owns read-only copies: changing the caller's array does not make it stale.
    own = {13: index[13].copy()}
    p = prepare_index(own)
    before = repetition_rates([GSM_ITEM], p, 13)
    own[13][:] = 0
    assert repetition_rates([GSM_ITEM], p, 13) == before and before[0].rate == 1.0
    assert not p[13].flags.writeable
    with pytest.raises(KeyError, match="no 10-grams"):
        repetition_rates(["a b c"], prepare_index({13: index[13]}), (10, 15))
    with pytest.raises(KeyError, match="no 10-grams"):
        prepare_index({13: index[13]}, [10])
    empty = prepare_index({13: np.zeros(0, np.int64)})
    assert repetition_rates([GSM_ITEM], empty, 13)[0].matched == 0


def test_results_do_not_depend_on_chunks_or_threads(monkeypatch):
    import hare_assets.core.overlap.scoring as sc

    _, index = build_index(ITEMS, range(4, 16))
    docs = [UNRELATED, "Intro. " + ARC_ITEM, GSM_ITEM + " " + UNRELATED, "", None, "x y", "Naïve — " + GSM_ITEM,
            GSM_ITEM * 3] * 7
    expected = {spec: repetition_rates(docs, index, spec, threads=1) for spec in (13, (4, 8))}
    monkeypatch.setattr(sc, "_CHUNK_BYTES", 300)  # many chunks, one text longer than a chunk
    for threads in (1, 2, 3):
        for spec, want in expected.items():
            assert repetition_rates(docs, index, spec, threads=threads) == want
            assert repetition_rates(pa.chunked_array([pa.array(docs[:10]), pa.array(docs[10:])]), index, spec,
                                    threads=threads) == want
    assert any(r.rate > 0.5 for r in expected[13]) and any(r.rate == 0 for r in expected[13])


def test_explainer_finds_the_item_and_ngram_of_a_hash():
    from hare_assets.core.overlap.index import Explainer

    table, index = build_index(ITEMS, [13])
    explainer = Explainer(table)
    [hit, miss] = repetition_rates(["Intro. " + GSM_ITEM, UNRELATED], index, 13)
    assert explainer.lookup([hit.first_match, miss.first_match, 12345]) == [
        ("gsm8k", "test/0", " ".join(normalize_tokens(GSM_ITEM)[:13])), (None, None, None), (None, None, None)]
    assert Explainer(table.slice(0, 0)).lookup([hit.first_match]) == [(None, None, None)]
