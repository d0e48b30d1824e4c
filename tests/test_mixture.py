"""Mix sampling (hare_assets/mixture/sampling.py) and tokenization + packing (hare_assets/core/packing.py)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from hare_assets.core.lake import StagedDir, staged
from hare_assets.core.settings import Mixture
from hare_assets.core.packing import (
    FORMAT,
    pack,
    write_shards,
)
from hare_assets.mixture.sampling import REPORT_SCHEMA, plan_mix, report_table
from model_training.data import open_packed_shards
from model_training.tokenizer import Tokenizer, sentencepiece_model_path

WEIGHTS = dict(Mixture.model_fields["weights"].default_factory())
ALL_PARTS = ["d1", "d2_synthetic", "d2_open", "d3_restruct", "d3_open"]
D1_SOURCES = {"RedPajamaC4": 11.0, "RedPajamaWiki": 7.78, "RedPajamaArxiv": 1.42, "PhiPapers": 0.06}


def synthetic_docs(per_pool: int = 400, seed: int = 0, sizes: dict[str, int] | None = None) -> pa.Table:
    """Documents of 50..500 tokens: per_pool per d1 source and per other part (sizes override counts)."""
    rng = np.random.default_rng(seed)
    rows = []
    pools = [("d1", s, w) for s, w in D1_SOURCES.items()] + [(p, f"{p}_src", None) for p in ALL_PARTS[1:]]
    for part, source, w in pools:
        for i in range((sizes or {}).get(source, (sizes or {}).get(part, per_pool))):
            rows.append({"id": f"{source}-{i:05d}", "part": part, "source": source, "source_weight": w,
                         "tokens": int(rng.integers(50, 500))})
    return pa.Table.from_pylist(rows, schema=pa.schema([("id", pa.string()), ("part", pa.string()),
                                                        ("source", pa.string()), ("source_weight", pa.float64()),
                                                        ("tokens", pa.int64())]))


def rows_by(report, level="part"):
    return {(r["part"] if level == "part" else r["source"]): r for r in report["rows"] if r["level"] == level}


# --------------------------------------------------------------------------- sampling

def test_shares_match_targets():
    docs = synthetic_docs(per_pool=3000)
    budget = 400_000
    plan, report = plan_mix(docs, WEIGHTS, ALL_PARTS, budget, seed=11)
    parts = rows_by(report)
    total_w = sum(WEIGHTS.values())
    assert report["warnings"] == [] and report["shares_match_targets"]
    for p in ALL_PARTS:
        r = parts[p]
        assert r["target_share"] == pytest.approx(WEIGHTS[p] / total_w)
        assert r["realized_share"] == pytest.approx(r["target_share"], abs=0.005)
        assert r["target_tokens"] <= r["realized_tokens"] < r["target_tokens"] + 500 * len(D1_SOURCES)
        assert r["epochs"] < 1
    assert sum(plan["tokens"].to_pylist()) == report["realized_tokens"]
    assert report["realized_tokens"] == pytest.approx(budget, rel=0.01)
    # One row per (document, epoch); a single epoch here; order is a permutation, sorted.
    assert plan.column_names == ["id", "part", "source", "epoch", "tokens", "order"]
    assert len(set(plan["id"].to_pylist())) == plan.num_rows and set(plan["epoch"].to_pylist()) == {0}
    assert plan["order"].to_pylist() == list(range(plan.num_rows))
    assert report_table(report).schema == REPORT_SCHEMA


def test_d1_sources_proportional_to_table3_weights():
    docs = synthetic_docs(per_pool=3000)
    plan, report = plan_mix(docs, WEIGHTS, ["d1"], 300_000, seed=3)
    sources = rows_by(report, "source")
    w_sum = sum(D1_SOURCES.values())
    assert set(sources) == set(D1_SOURCES)
    for s, w in D1_SOURCES.items():
        assert sources[s]["target_tokens"] == round(300_000 * w / w_sum)
        assert sources[s]["target_share"] == pytest.approx(w / w_sum)
        assert sources[s]["realized_tokens"] >= sources[s]["target_tokens"]
        assert sources[s]["realized_share"] == pytest.approx(w / w_sum, abs=0.003)
    d1 = rows_by(report)["d1"]
    assert d1["target_share"] == 1.0 and d1["realized_tokens"] == sum(r["realized_tokens"] for r in sources.values())
    # Realized by source in the plan agrees with the report.
    by_source = plan.group_by("source").aggregate([("tokens", "sum")]).to_pylist()
    assert {r["source"]: r["tokens_sum"] for r in by_source} == {s: r["realized_tokens"] for s, r in sources.items()}


def test_small_part_is_repeated_with_a_warning():
    docs = synthetic_docs(per_pool=2000, sizes={"d2_synthetic": 5})
    available = sum(t for t, p in zip(docs["tokens"].to_pylist(), docs["part"].to_pylist()) if p == "d2_synthetic")
    plan, report = plan_mix(docs, WEIGHTS, ALL_PARTS, 200_000, seed=1)
    r = rows_by(report)["d2_synthetic"]
    assert r["available_tokens"] == available and r["available_documents"] == 5
    assert r["epochs"] > 2 and r["realized_tokens"] >= r["target_tokens"]
    assert r["realized_share"] == pytest.approx(r["target_share"], abs=0.005)
    assert any(w.startswith("d2_synthetic:") and "epochs" in w for w in report["warnings"])
    small = plan.filter(pa.compute.equal(plan["part"], "d2_synthetic")).to_pylist()
    epochs = {}
    for row in small:
        epochs.setdefault(row["epoch"], []).append(row["id"])
    full = [e for e in epochs if len(epochs[e]) == 5]
    assert len(full) == int(r["epochs"]) and all(len(set(ids)) == len(ids) for ids in epochs.values())
    # (document, epoch) pairs are unique.
    assert len({(x["id"], x["epoch"]) for x in small}) == len(small)


def test_capped_repetition_misses_target():
    docs = synthetic_docs(per_pool=2000, sizes={"d2_open": 2})
    _, report = plan_mix(docs, WEIGHTS, ALL_PARTS, 200_000, seed=1, max_epochs=3)
    r = rows_by(report)["d2_open"]
    assert r["epochs"] == pytest.approx(3.0) and r["realized_tokens"] < r["target_tokens"]
    assert not report["shares_match_targets"] and any("capped" in w for w in report["warnings"])


def test_missing_part_realizes_zero_and_others_are_not_rescaled():
    docs = synthetic_docs(per_pool=3000, sizes={"d3_restruct": 0})
    budget = 300_000
    _, report = plan_mix(docs, WEIGHTS, ALL_PARTS, budget, seed=2)
    parts = rows_by(report)
    assert parts["d3_restruct"]["realized_tokens"] == 0 and parts["d3_restruct"]["available_tokens"] == 0
    assert parts["d3_restruct"]["realized_share"] == 0.0 and parts["d3_restruct"]["epochs"] == 0.0
    assert any(w.startswith("d3_restruct:") and "not rescaled" in w for w in report["warnings"])
    assert not report["shares_match_targets"] and "d3_restruct" in report["note"]
    for p in ("d1", "d2_open", "d3_open"):
        # Each other part realizes its own target (not more), so its share of the realized run is larger.
        assert parts[p]["realized_tokens"] == pytest.approx(parts[p]["target_tokens"], rel=0.01)
        assert parts[p]["realized_share"] > parts[p]["target_share"]
    assert report["realized_tokens"] == pytest.approx(budget * (1 - WEIGHTS["d3_restruct"] / sum(WEIGHTS.values())), rel=0.01)


def test_configured_d1_source_without_documents_is_warned():
    docs = synthetic_docs(per_pool=500)
    _, report = plan_mix(docs, WEIGHTS, ["d1"], 50_000, seed=0, source_weights={**D1_SOURCES, "FreeLaw": 0.46})
    assert rows_by(report, "source")["FreeLaw"]["realized_tokens"] == 0
    assert any(w.startswith("d1/FreeLaw:") for w in report["warnings"])


def test_only_the_runs_parts_are_used_and_normalized():
    docs = synthetic_docs(per_pool=2000)
    plan, report = plan_mix(docs, WEIGHTS, ["d1", "d2_synthetic", "d2_open"], 100_000, seed=5)
    assert set(plan["part"].to_pylist()) == {"d1", "d2_synthetic", "d2_open"}
    w = WEIGHTS["d1"] + WEIGHTS["d2_synthetic"] + WEIGHTS["d2_open"]
    assert rows_by(report)["d1"]["target_share"] == pytest.approx(WEIGHTS["d1"] / w)
    with pytest.raises(ValueError, match="no mixture weight"):
        plan_mix(docs, {"d1": 1.0}, ["d1", "d2_open"], 100, seed=0)


def test_plan_is_deterministic():
    docs = synthetic_docs(per_pool=500, sizes={"d2_synthetic": 3})
    a, ra = plan_mix(docs, WEIGHTS, ALL_PARTS, 80_000, seed=7)
    b, rb = plan_mix(docs, WEIGHTS, ALL_PARTS, 80_000, seed=7)
    assert a.equals(b) and ra == rb
    # Input row order and input type do not matter.
    shuffled = docs.take(pa.array(np.random.default_rng(9).permutation(docs.num_rows)))
    assert plan_mix(shuffled, WEIGHTS, ALL_PARTS, 80_000, seed=7)[0].equals(a)
    assert plan_mix(pl.from_arrow(docs), WEIGHTS, ALL_PARTS, 80_000, seed=7)[0].equals(a)
    # Another seed: another sample.
    c, _ = plan_mix(docs, WEIGHTS, ALL_PARTS, 80_000, seed=8)
    assert c["id"].to_pylist() != a["id"].to_pylist()


# --------------------------------------------------------------------------- tokenizer

@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def test_mistral_v1_tokenizer(tokenizer):
    assert sentencepiece_model_path().name == "tokenizer.model.v1"
    assert (tokenizer.vocab_size, tokenizer.bos_id, tokenizer.eos_id) == (32000, 1, 2)
    assert tokenizer.encode_batch(["Hello world", ""]) == [[22557, 1526], []]
    assert len(tokenizer.sha256) == 64 and tokenizer.decode([22557, 1526]) == "Hello world"


# --------------------------------------------------------------------------- packing

def test_pack_row_arithmetic():
    rng = np.random.default_rng(0)
    docs = [rng.integers(3, 32000, size=int(n)).tolist() for n in rng.integers(0, 300, size=500)]
    seq_len = 63
    packer = pack(iter(docs), seq_len, eos_id=2)
    blocks = list(packer)
    total = sum(len(d) + 1 for d in docs)
    assert all(b.dtype == np.uint16 and b.ndim == 2 and b.shape[1] == seq_len + 1 for b in blocks)
    rows = sum(len(b) for b in blocks)
    assert rows == packer.sequences == total // (seq_len + 1)
    assert packer.dropped_tail_tokens == total % (seq_len + 1)
    assert packer.documents == len(docs) and packer.input_tokens == total
    flat = np.concatenate(blocks).ravel()
    expected = np.concatenate([np.array(d + [2]) for d in docs])[: rows * (seq_len + 1)]
    assert np.array_equal(flat, expected)
    # Nothing to pack: no rows, the whole input is the tail.
    empty = pack([[5, 6]], 63, 2)
    assert list(empty) == [] and empty.dropped_tail_tokens == 3


def test_pack_rejects_ids_outside_uint16():
    with pytest.raises(ValueError, match="uint16"):
        list(pack([[70_000]], 4, 2))


def read_rows(directory) -> np.ndarray:
    """Every row of a shard folder in shard order, read by the training loader's reader."""
    return np.concatenate(open_packed_shards(directory).shards)


def test_round_trip_through_shards(tmp_path, tokenizer):
    texts = [f"Document number {i} talks about topic {i % 7}: rivers, mountains and the sea." * (1 + i % 3)
             for i in range(60)]
    ids = tokenizer.encode_batch(texts)
    seq_len = 31
    packed = np.concatenate(list(pack(ids, seq_len, tokenizer.eos_id)))
    packer = pack(ids, seq_len, tokenizer.eos_id)
    manifest = write_shards(tmp_path / "out", packer, seq_len, shard_sequences=10_000, seed=11,
                            manifest_extra={"run": "test", "tokenizer": "mistral-v1"})
    rows = read_rows(tmp_path / "out")
    assert rows.shape == packed.shape and rows.dtype == np.uint16
    # Shuffled: same rows, another order.
    assert not np.array_equal(rows, packed)
    assert np.array_equal(rows[np.lexsort(rows.T[::-1])], packed[np.lexsort(packed.T[::-1])])
    # The unshuffled stream decodes back to the documents, EOS exactly between documents.
    flat = packed.ravel()
    eos_at = np.flatnonzero(flat == tokenizer.eos_id)
    ends = np.cumsum([len(x) + 1 for x in ids]) - 1
    assert np.array_equal(eos_at, ends[ends < len(flat)])
    pieces = np.split(flat, eos_at + 1)
    complete = [p[:-1] for p in pieces if len(p) and p[-1] == tokenizer.eos_id]
    assert [tokenizer.decode(p) for p in complete] == texts[: len(complete)]
    assert len(complete) >= len(texts) - 1
    # Manifest: the training loader's contract.
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["format"] == FORMAT and manifest["dtype"] == "uint16" and manifest["seq_len"] == seq_len
    assert manifest["eos_id"] == 2 and manifest["run"] == "test"
    assert manifest["total_sequences"] == len(packed) and manifest["total_tokens"] == packed.size
    assert manifest["dropped_tail_tokens"] == sum(len(x) + 1 for x in ids) - packed.size
    assert manifest["shards"] == [{"file": "shard-00000.ds", "sequences": len(packed)}]
    assert (tmp_path / "out" / "shard-00000.ds").stat().st_size == packed.size * 2


def test_shards_buffer_shuffle_is_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    docs = [rng.integers(3, 32000, size=int(n)).tolist() for n in rng.integers(10, 200, size=300)]
    seq_len = 15
    packed = np.concatenate(list(pack(docs, seq_len, 2)))
    m1 = write_shards(tmp_path / "a", pack(docs, seq_len, 2), seq_len, shard_sequences=100, seed=4)
    write_shards(tmp_path / "b", pack(docs, seq_len, 2), seq_len, shard_sequences=100, seed=4)
    write_shards(tmp_path / "c", pack(docs, seq_len, 2), seq_len, shard_sequences=100, seed=5)
    n = len(packed)
    assert [s["sequences"] for s in m1["shards"]] == [100] * (n // 100) + ([n % 100] if n % 100 else [])
    assert m1["total_sequences"] == n
    a, b, c = read_rows(tmp_path / "a"), read_rows(tmp_path / "b"), read_rows(tmp_path / "c")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for s in m1["shards"]:
        assert (tmp_path / "a" / s["file"]).read_bytes() == (tmp_path / "b" / s["file"]).read_bytes()
    # Each shard is a permutation of its window of consecutive packed rows.
    for k in range(0, n, 100):
        win, got = packed[k:k + 100], a[k:k + 100]
        assert np.array_equal(win[np.lexsort(win.T[::-1])], got[np.lexsort(got.T[::-1])])


def test_staged_write_shards_replaces_previous_output_atomically(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"old")
    with staged(StagedDir(out)) as (folder,):
        manifest = write_shards(folder.tmp, pack([[5] * 40], 9, 2), 9, 4, seed=0)
        assert [p.name for p in out.iterdir()] == ["stale.bin"]  # the previous output until the swap
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "shard-00000.ds", "shard-00000.ds.index",
                                                     "shard-00000.ds.metadata"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging", "run"]
    assert list((tmp_path / ".staging").iterdir()) == []  # no temp folders or journal left behind
    assert manifest["total_sequences"] == 4 and manifest["dropped_tail_tokens"] == 1
    # An empty run still writes a manifest (no shards).
    empty = write_shards(tmp_path / "empty", pack([], 9, 2), 9, 4, seed=0)
    assert empty["shards"] == [] and empty["total_sequences"] == 0
    opened = open_packed_shards(tmp_path / "empty")
    assert opened.shards == [] and opened.seq_len == 9


def _fixed_pack_docs():
    rng = np.random.default_rng(20261123)
    lengths = rng.integers(0, 400, 600)
    lengths[::37] = 0
    lengths[5] = 5000  # longer than a block
    docs = [rng.integers(0, 65536, int(k)).tolist() for k in lengths]
    docs[7] = tuple(docs[7])
    docs[11] = np.asarray(docs[11], np.int32)
    docs += [[65535, 0, 1], []]
    return docs


@pytest.mark.parametrize("seq_len, rows_per_block, expected", [
    (63, 3, "f07a510dc4dff22260e2564f4fbb18d4e5c56a85f0a661aee0bf0e705e73d14a"),
    (127, 1, "4d82c108e4061c0dc6da6ff302002eebe3464a8145607056333addb2748fe2d5"),
    (2048, 1024, "f10b26898b13309e90489341a94f531866d076f872c5470799190e9cc5d2fe4d"),
])
def test_packing_output_is_pinned(tmp_path, seq_len, rows_per_block, expected):
    """Blocks, counters, shard bytes and shard sizes on a fixed input: sha256 pinned from the
    hare-packed-v1 writer (the .ds shards of v2 hold exactly the bytes of v1's .bin shards)."""
    import hashlib

    from hare_assets.core.packing import Packer

    h = hashlib.sha256()
    packer = Packer(iter(_fixed_pack_docs()), seq_len, 2, rows_per_block=rows_per_block)
    for block in packer:
        h.update(repr((block.dtype.str, block.shape)).encode())
        h.update(block.tobytes())
    h.update(repr((packer.documents, packer.input_tokens, packer.sequences, packer.dropped_tail_tokens)).encode())
    out = tmp_path / f"o{seq_len}"
    manifest = write_shards(out, pack(_fixed_pack_docs(), seq_len, 2), seq_len, 50, seed=7)
    for shard in manifest["shards"]:
        h.update((out / shard["file"]).read_bytes())
    h.update(repr([s["sequences"] for s in manifest["shards"]]).encode())
    assert h.hexdigest() == expected


def test_datatrove_reads_the_shards_and_they_decode_to_the_documents(tmp_path, tokenizer):
    """The shards are datatrove's tokenized format: its own loader gives our rows, its positions
    (from our .ds.index) restart after every EOS, and every document between two EOS decodes back
    to its source text."""
    from datatrove.utils.dataset import DatatroveFolderDataset

    texts = [f"Shard test {i}: the {['river', 'mountain', 'sea'][i % 3]} has {i * 7} stones. " * (1 + i % 4)
             for i in range(120)]
    ids = tokenizer.encode_batch(texts)
    seq_len = 47
    manifest = write_shards(tmp_path / "run", pack(ids, seq_len, tokenizer.eos_id), seq_len,
                            shard_sequences=16, seed=3)
    assert len(manifest["shards"]) > 1 and all(s["file"].endswith(".ds") for s in manifest["shards"])
    ours = read_rows(tmp_path / "run")
    loaded = DatatroveFolderDataset(str(tmp_path / "run"), seq_len=seq_len, token_size=2, return_positions=True)
    assert len(loaded) == manifest["total_sequences"] == len(ours)
    source = set(texts)
    complete = 0
    for i in range(len(loaded)):
        item = loaded[i]
        row = item["input_ids"].numpy()
        assert np.array_equal(row, ours[i].astype(np.int64))
        # Positions count tokens since the last EOS (or the row start): the index marks every end.
        expected, p = [], 0
        for tok in row:
            expected.append(p)
            p = 0 if tok == tokenizer.eos_id else p + 1
        assert item["positions"].tolist() == expected
        eos_at = np.flatnonzero(row == tokenizer.eos_id)
        for a, b in zip(eos_at[:-1], eos_at[1:]):
            assert tokenizer.decode(row[a + 1:b]) in source
            complete += 1
    assert complete >= 25  # documents that lie whole inside one row, between two EOS
    meta = (tmp_path / "run" / "shard-00000.ds.metadata").read_text().splitlines()
    assert meta[0].endswith("|2") and int(meta[1]) == manifest["shards"][0]["sequences"] * (seq_len + 1)


def test_mix_composition_counts_parts_and_sources():
    from hare_assets.mixture.sampling import mix_composition

    plan = pa.table({"part": ["d1", "d1", "d3_open", "d1"], "source": ["C4", "Wiki", "dolly", "C4"],
                     "tokens": [10, 20, 30, 40]})
    mix = mix_composition(plan)
    assert mix["tokens"] == 100
    assert mix["parts"] == {"d1": {"documents": 3, "tokens": 70, "share": 0.7},
                            "d3_open": {"documents": 1, "tokens": 30, "share": 0.3}}
    assert mix["sources"]["d1/C4"] == {"documents": 2, "tokens": 50, "share": 0.5}
