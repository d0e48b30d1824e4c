import random
from collections import Counter

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hare_assets.core import minhash as mh
from hare_assets.core.lake import read_table, write_table
from hare_assets.core.minhash import (
    band_keys,
    collision_probability,
    jaccard_estimate,
    lsh_params,
    normalized_text_hash,
    shingle_hashes,
    signatures,
    sketch,
    text_hashes,
)
from hare_assets.core.schemas import CLEANED_SCHEMA
from hare_assets.core.settings import Compute
from hare_assets.dedup.components import connected_components, star_components
from hare_assets.dedup.plan import write_deduplicated

K, P, SEED = 5, 128, 1


def vocabulary(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))))
    return sorted(words)


WORDS = vocabulary(5000)


def doc(n_words: int, seed: int) -> list[str]:
    return random.Random(seed).choices(WORDS, k=n_words)


def shingle_set(tokens: list[str], k: int = K) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + k]) for i in range(max(len(tokens) - k + 1, 1))}


def true_jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / len(sa | sb)


def same_bucket(sigs: np.ndarray, i: int, j: int, bands: int, rows: int) -> bool:
    keys = band_keys(sigs, bands, rows)
    return bool((keys[i] == keys[j]).any())


# --- exact hash ------------------------------------------------------------------------------------

def test_normalized_text_hash_ignores_case_whitespace_punctuation():
    h = normalized_text_hash("Hello,   World!\nThis is a test.")
    assert h == normalized_text_hash("hello world -- this IS a test")
    assert h != normalized_text_hash("Hello World, this is another test.")
    assert isinstance(h, int) and -(2 ** 63) <= h < 2 ** 63
    assert normalized_text_hash("") == normalized_text_hash(" ... ")
    # Word order counts; the batch form equals the one-text form; sketch gives the same hashes.
    assert normalized_text_hash("b a") != normalized_text_hash("a b")
    texts = ["Hello, World!", "", "a b c", "c b a", "a b c"]
    batch = text_hashes(texts)
    assert batch.dtype == np.int64 and batch.tolist() == [normalized_text_hash(t) for t in texts]
    assert batch[2] == batch[4] and len(set(batch.tolist())) == 4
    hashes, sigs = sketch(texts, K, P, SEED)
    assert hashes.tolist() == batch.tolist() and (sigs == signatures(texts, K, P, SEED)).all()


# --- shingles and signatures -----------------------------------------------------------------------

def reference_shingle_hash(tokens: list[str]) -> int:
    h = np.array([mh._hash64(tokens[0].encode())], dtype=np.uint64)
    for t in tokens[1:]:
        h = mh._chain(h, np.array([mh._hash64(t.encode())], dtype=np.uint64))
    return int(h[0])


def test_shingle_hashes_match_a_per_shingle_reference():
    texts = ["The quick brown fox jumps over the lazy dog.", "Only three words", "", "one two three four five",
             "Ünïcode wörds, ÇA VA? oui ça va bien merci beaucoup"]
    hashes, counts = shingle_hashes(texts, K)
    assert counts.tolist() == [5, 1, 1, 1, 6]
    expected = []
    for t in texts:
        toks = mh.words(t)
        if not toks:
            expected.append(int(mh._EMPTY_SHINGLE))
        for i in range(max(len(toks) - K + 1, 1)):
            if toks:
                expected.append(reference_shingle_hash(toks[i:i + K]))
    assert hashes.tolist() == expected


def test_signatures_shape_dtype_and_identity():
    texts = [" ".join(doc(150, 1)), " ".join(doc(150, 1)), " ".join(doc(150, 2)), "short text", ""]
    sigs = signatures(texts, K, P, SEED)
    assert sigs.shape == (5, P) and sigs.dtype == np.uint64
    assert (sigs[0] == sigs[1]).all()
    assert (sigs[0] != sigs[2]).mean() > 0.95
    # Case, punctuation and spacing do not matter; the seed does.
    variant = texts[0].upper().replace(" ", " ,  ")
    assert (signatures([variant], K, P, SEED)[0] == sigs[0]).all()
    assert (signatures([texts[0]], K, P, SEED + 1)[0] != sigs[0]).mean() > 0.95
    # Batch composition does not change a document's signature.
    assert (signatures(texts[2:3], K, P, SEED)[0] == sigs[2]).all()
    assert signatures([], K, P, SEED).shape == (0, P)


def test_signature_chunking_matches_unchunked(monkeypatch):
    texts = [" ".join(doc(n, i)) for i, n in enumerate([3, 400, 50, 0, 1200, 7])]
    full = signatures(texts, K, P, SEED)
    monkeypatch.setattr(mh, "_CHUNK_ELEMENTS", P * 37)  # chunks that cut documents apart
    assert (signatures(texts, K, P, SEED) == full).all()


def test_signatures_equal_datasketch_affine64_on_the_same_shingle_hashes():
    datasketch = pytest.importorskip("datasketch")
    texts = [" ".join(doc(60, s)) for s in range(5)]
    sigs = signatures(texts, K, P, SEED)
    hashes, counts = shingle_hashes(texts, K)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(texts)):
        m = datasketch.MinHash(num_perm=P, seed=SEED, scheme="affine64", hashfunc=int)
        m.update_batch([int(h) for h in hashes[bounds[i]:bounds[i + 1]]])
        assert (m.hashvalues == sigs[i]).all()


@pytest.mark.parametrize("overlap_words", [40, 100, 150, 180, 195])
def test_estimated_jaccard_close_to_true(overlap_words):
    base = doc(400, 7)
    a = base[:200]
    b = base[200 - overlap_words: 400 - overlap_words]
    sigs = signatures([" ".join(a), " ".join(b)], K, 256, SEED)
    estimate = jaccard_estimate(sigs[0], sigs[1])
    assert estimate == pytest.approx(true_jaccard(a, b), abs=0.1)


def test_near_duplicate_collides_unrelated_do_not():
    bands, rows = lsh_params(0.7, 128)
    original = doc(200, 11)
    edited = list(original)
    for pos in (30, 100, 170):
        edited[pos] = "changed"
    others = [" ".join(doc(200, 100 + s)) for s in range(20)]
    texts = [" ".join(original), " ".join(edited)] + others
    sigs = signatures(texts, K, 128, SEED)
    assert true_jaccard(original, edited) > 0.8
    assert same_bucket(sigs, 0, 1, bands, rows)
    keys = band_keys(sigs, bands, rows)
    for i in range(2, len(texts)):
        assert not (keys[0] == keys[i]).any() and not (keys[1] == keys[i]).any()


# --- LSH parameters and band keys -------------------------------------------------------------------

def test_lsh_params_default_is_16x8_not_datasketchs_14x9():
    # 16 x 8 uses all 128 permutations and catches a pair at exactly J = 0.7 with p = 0.61;
    # datasketch's area minimum (14 x 9) catches it with p = 0.44 (and misses more planted pairs).
    assert lsh_params(0.7, 128) == (16, 8)
    assert float(collision_probability(0.7, 16, 8)) == pytest.approx(0.613, abs=1e-3)
    assert float(collision_probability(0.7, 14, 9)) < 0.5


@pytest.mark.parametrize("t", [0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("n", [32, 64, 100, 128, 256])
def test_lsh_params_rule(t, n):
    b, r = lsh_params(t, n)
    assert b == n // r and b * r <= n  # as many bands as the permutations allow
    assert float(collision_probability(t, b, r)) >= 0.5  # even chance at the threshold itself
    # No other (n // r', r') that also reaches 1/2 has a smaller false-positive + false-negative area.
    rs = np.arange(1, n + 1, dtype=np.float64)
    bs = np.floor(n / rs)
    err = mh._lsh_error(t, bs, rs)
    ok = collision_probability(t, bs, rs) >= 0.5
    assert err[r - 1] == pytest.approx(err[ok].min())
    # The S-curve's midpoint sits near the threshold, and stricter thresholds take more rows.
    assert abs((1 / b) ** (1 / r) - t) < 0.15


def test_lsh_params_monotone_and_validated():
    rows = [lsh_params(t, 128)[1] for t in (0.3, 0.5, 0.7, 0.9)]
    assert rows == sorted(rows) and rows[0] < rows[-1]
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            lsh_params(bad, 128)
    with pytest.raises(ValueError):
        lsh_params(0.7, 0)


def test_16x8_recall_above_14x9_on_pairs_at_the_threshold():
    # Pairs with true shingle Jaccard in [0.70, 0.76]: the band layout decides whether they collide.
    base_len, pairs = 300, []
    for s in range(60):
        a = doc(base_len, 1000 + s)
        b = list(a)
        rng = random.Random(s)
        for pos in rng.sample(range(base_len), 9):
            b[pos] = "zz" + str(pos)
        pairs.append((a, b))
    jac = [true_jaccard(a, b) for a, b in pairs]
    assert 0.6 < min(jac) and max(jac) < 0.8
    sigs = signatures([" ".join(t) for ab in pairs for t in ab], K, 128, SEED)
    hits = {}
    for layout in ((16, 8), (14, 9)):
        hits[layout] = sum(same_bucket(sigs, 2 * i, 2 * i + 1, *layout) for i in range(len(pairs)))
    assert hits[(16, 8)] > hits[(14, 9)]


def test_band_keys():
    sigs = signatures([" ".join(doc(100, 1)), " ".join(doc(100, 1)), " ".join(doc(100, 2))], K, P, SEED)
    keys = band_keys(sigs, 14, 9)
    assert keys.shape == (3, 14) and keys.dtype == np.int64
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()
    assert len(set(keys[0].tolist())) == 14
    # A key depends only on its band's rows.
    changed = sigs.copy()
    changed[0, 9] ^= np.uint64(1)  # first value of band 1
    new = band_keys(changed, 14, 9)
    assert new[0, 1] != keys[0, 1] and (np.delete(new[0], 1) == np.delete(keys[0], 1)).all()
    with pytest.raises(ValueError):
        band_keys(sigs, 20, 9)


# --- components and the keeper rule ------------------------------------------------------------------

def test_connected_components():
    pairs = [(5, 3), (3, 9), (9, 5), (10, 11), (12, 11), (4, 20), (np.int64(20), np.int64(7))]
    roots = connected_components(pairs)
    assert roots == {3: 3, 5: 3, 9: 3, 10: 10, 11: 10, 12: 10, 4: 4, 7: 4, 20: 4}
    assert connected_components([]) == {}
    # A long chain given in an unfavourable order collapses to its smallest id.
    chain = [(i + 1, i) for i in range(1000, 0, -1)]
    assert set(connected_components(chain).values()) == {1}


def star_roots(tmp_path, files: list[list[tuple[int, int]]], parts: int) -> tuple[dict[int, int], int]:
    paths = []
    for i, pairs in enumerate(files):
        paths.append(str(tmp_path / f"edges{i}.parquet"))
        pq.write_table(pa.table({"head": pa.array([min(p) for p in pairs], pa.int64()),
                                 "idx": pa.array([max(p) for p in pairs], pa.int64())}), paths[-1])
    glob, rounds = star_components(Compute(), paths, parts, tmp_path / "star", "200MB", str(tmp_path / "tmp"))
    rows = duckdb.sql(f"SELECT DISTINCT u, v FROM read_parquet('{glob}')").fetchall()
    roots = {v: u for u, v in rows if u < v} | {u: u for u, v in rows if u < v}
    return roots, rounds


def test_star_components_equal_union_find(tmp_path):
    rng = random.Random(3)
    # Random sparse graph, a long chain in an unfavourable order, and a clique, over three edge files.
    random_pairs = [tuple(rng.sample(range(2000), 2)) for _ in range(1500)]
    chain = [(i, i + 1) for i in range(5000, 4000, -1)]
    clique = [(a, b) for a in range(9000, 9030) for b in range(a + 1, 9030)]
    files = [random_pairs, chain, clique[:200] + random_pairs[:50]]
    expected = connected_components(p for f in files for p in f)
    roots, rounds = star_roots(tmp_path, files, parts=3)
    assert roots == expected
    assert 1 < rounds < 30  # the chain needs several rounds (log-many)
    # Every node is a leaf of its component's smallest node: a star, and a rerun gives the same.
    assert star_roots(tmp_path, files, parts=5)[0] == expected


@pytest.mark.parametrize("compute", [Compute(), Compute(dedup_key_shards=3, component_edges_per_task=1)],
                         ids=["one-task-per-band", "key-shards-and-star-rounds"])
def test_dedup_keeps_the_heaviest_source_then_the_smallest_id(tmp_path, compute):
    # Near clusters {d1, d2, d3} and {d7, d8} share a band-0 bucket; d4, d5, d6 share a text hash.
    weight = {"d1": 0.5, "d2": 11.0, "d3": 11.0, "d4": 2.0, "d5": 3.0, "d6": 3.0, "d7": 1.0, "d8": 1.0, "d9": 4.0}
    ids = sorted(weight)
    text_hash = {i: 42 if i in ("d4", "d5", "d6") else n for n, i in enumerate(ids)}
    bucket = {"d1": 100, "d2": 100, "d3": 100, "d7": 700, "d8": 700}
    write_table(tmp_path / "cleaned", pa.table({
        "id": ids, "source": [f"s{weight[i]}" for i in ids], "category": ["C4"] * len(ids),
        "part": ["d1"] * len(ids), "text": [f"text of {i}" for i in ids], "meta": ["{}"] * len(ids),
        "source_weight": [weight[i] for i in ids], "text_hash": [text_hash[i] for i in ids]}, schema=CLEANED_SCHEMA))
    write_table(tmp_path / "signatures", pa.table({
        "id": [i for i in ids for _ in range(2)], "band": pa.array([0, 1] * len(ids), pa.int16()),
        "key": pa.array([k for n, i in enumerate(ids) for k in (bucket.get(i, n), 1000 + n)], pa.int64())}))
    with duckdb.connect() as con:
        rows_in, reasons, kept_rows = write_deduplicated(
            con, str(tmp_path / "cleaned" / "*.parquet"), str(tmp_path / "signatures" / "*.parquet"), 2,
            tmp_path / "scratch", tmp_path / "kept", tmp_path / "rejected", compute)
    assert read_table(tmp_path / "kept").column("id").to_pylist() == ["d2", "d5", "d7", "d9"]
    rejected = read_table(tmp_path / "rejected").to_pylist()
    assert {r["id"]: (r["stage"], r["reason"], r["detail"]) for r in rejected} == {
        "d1": ("dedup", "near_duplicate", "duplicate of d2"), "d3": ("dedup", "near_duplicate", "duplicate of d2"),
        "d8": ("dedup", "near_duplicate", "duplicate of d7"),
        "d4": ("dedup", "exact_duplicate", "duplicate of d5"), "d6": ("dedup", "exact_duplicate", "duplicate of d5")}
    assert (rows_in, kept_rows, reasons) == (9, 4, Counter(near_duplicate=3, exact_duplicate=2))
    assert (tmp_path / "scratch" / "star").is_dir() == (compute.component_edges_per_task == 1)
    assert len(list((tmp_path / "scratch" / "edges").glob("*.parquet"))) == 2 * compute.dedup_key_shards
