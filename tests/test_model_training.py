"""model_training: presets, packed-shard loader, CPU training with resume, Pipes reporting, evaluation.

All offline: shards are written here, the tokenizer comes from mistral-common's bundled model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import torch
from dagster_pipes import encode_param
from transformers import AutoModelForCausalLM, AutoTokenizer, MistralForCausalLM

from model_training.configs import PRESETS, flops_per_token
from model_training.data import PackedSequences
from model_training.evaluate import (
    continuation_logliks,
    extract_number,
    greedy_exact_match,
    load_checkpoint,
    multiple_choice_accuracy,
    ngram_accuracy,
)
from model_training.tokenizer import mistral_v1_tokenizer, sentencepiece_model_path
from model_training.train import (
    RunConfig,
    Runtime,
    deepspeed_config,
    directory_sha256,
    lr_multiplier,
    make_plan,
    train,
)

REPO = Path(__file__).resolve().parents[1]

# The text the tiny model memorises: a GSM8K-style item and a sentence, each copy preceded by bos.
MEMORISED = (
    "Question: How many legs does a cat have?\nAnswer: A cat has 4 legs. #### 4\n\n"
    "The quick brown fox jumps over the lazy dog near the old river bank.\n\n"
)


def write_shards(directory: Path, rows: np.ndarray, shard_sizes: list[int], **extra) -> Path:
    """Shards in the hare-packed-v1 format, rows split across files in the given sizes."""
    directory.mkdir(parents=True, exist_ok=True)
    shards, start = [], 0
    for index, size in enumerate(shard_sizes):
        name = f"shard-{index:05d}.bin"
        rows[start : start + size].astype(np.uint16).tofile(directory / name)
        shards.append({"file": name, "sequences": size})
        start += size
    assert start == len(rows)
    manifest = {"format": "hare-packed-v1", "seq_len": rows.shape[1] - 1, "dtype": "uint16", "eos_id": 2, "shards": shards, **extra}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def random_rows(n: int, seq_len: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(3, 32000, size=(n, seq_len + 1), dtype=np.int64)


def read_metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


# --- presets -----------------------------------------------------------------------------------


def meta_parameter_count(preset_name: str) -> int:
    with torch.device("meta"):
        model = MistralForCausalLM(PRESETS[preset_name].to_mistral_config())
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "expected"), [("hare-1.1b", 1_123_117_056), ("hare-0.25b", 245_924_864)])
def test_preset_parameter_counts(name, expected):
    assert PRESETS[name].parameter_count() == expected
    assert meta_parameter_count(name) == expected


def test_tiny_preset_count_matches_model():
    assert PRESETS["tiny"].parameter_count() == meta_parameter_count("tiny")


def test_flops_per_token_matches_paper():
    assert flops_per_token(PRESETS["hare-1.1b"], 2048) == pytest.approx(7.85e9, rel=0.02)


def test_mistral_config_shape():
    config = PRESETS["hare-1.1b"].to_mistral_config()
    assert (config.num_hidden_layers, config.hidden_size, config.num_key_value_heads) == (22, 2048, 8)
    assert (config.hidden_act, config.tie_word_embeddings, config.bos_token_id, config.eos_token_id) == ("silu", False, 1, 2)


# --- tokenizer ---------------------------------------------------------------------------------


def test_tokenizer_matches_sentencepiece():
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sentencepiece_model_path()))
    tok = mistral_v1_tokenizer()
    texts = ["Hello world", " leading space", "a  b   c", "trailing  ", "tabs\tand\nnewlines\n\n", "Zürich 漢字 🙂", "#### 1,234.5"]
    for text in texts:
        assert tok(text).input_ids == [1, *sp.encode(text)], text
        assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == sp.decode(sp.encode(text))


# --- loader ------------------------------------------------------------------------------------


def test_loader_reads_rows_across_shards_and_crops(tmp_path):
    rows = random_rows(10, 16)
    shards = write_shards(tmp_path / "s", rows, [4, 0, 6], stage="stage1")
    data = PackedSequences(shards)
    assert len(data) == 10 and data.seq_len == 16
    for i in (0, 3, 4, 9, -1):
        np.testing.assert_array_equal(data[i], rows[i])
    assert data[5].dtype == np.int64
    cropped = PackedSequences(shards, seq_len=8)
    np.testing.assert_array_equal(cropped[7], rows[7, :9])
    assert next(cropped.batches(3)).shape == (3, 9)
    with pytest.raises(ValueError):
        PackedSequences(shards, seq_len=17)


def test_loader_batches_are_seeded_and_resumable(tmp_path):
    data = PackedSequences(write_shards(tmp_path / "s", random_rows(10, 4), [10]))

    def take(iterator, k):
        return [next(iterator) for _ in range(k)]

    first = take(data.batches(4, seed=1), 6)
    again = take(data.batches(4, seed=1), 6)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, take(data.batches(4, seed=2), 6)))
    resumed = take(data.batches(4, start_step=3, seed=1), 3)
    assert all(torch.equal(a, b) for a, b in zip(first[3:], resumed))
    # Rows 0..9 of the stream are one epoch: each row exactly once, even across the batch boundary.
    stream = torch.cat(first)[:10]
    assert sorted(tuple(r.tolist()) for r in stream) == sorted(tuple(r.tolist()) for r in torch.from_numpy(random_rows(10, 4)))


def test_loader_rejects_bad_shards(tmp_path):
    shards = write_shards(tmp_path / "s", random_rows(4, 8), [4])
    with open(shards / "shard-00000.bin", "ab") as f:
        f.write(b"\0\0")
    with pytest.raises(ValueError, match="bytes"):
        PackedSequences(shards)
    manifest = json.loads((shards / "manifest.json").read_text())
    (shards / "manifest.json").write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(ValueError, match="format"):
        PackedSequences(shards)


# --- plan and schedule -------------------------------------------------------------------------


def test_plan_derives_accumulation_and_steps():
    base = {"preset": "hare-1.1b", "shards_dir": "-", "output_dir": "-"}
    plan = make_plan(RunConfig.from_dict({**base, "micro_batch_size": 8, "token_batch": 2 * 2**20, "target_tokens": 52e9}), 2048, 16)
    assert plan.grad_accum_steps == 8 and plan.tokens_per_step == 2 * 2**20
    assert plan.max_steps == 24796  # ceil(52e9 / 2 Mi tokens)
    with pytest.raises(ValueError):
        make_plan(RunConfig.from_dict({**base, "max_steps": 1, "target_tokens": 1}), 2048, 1)
    with pytest.raises(ValueError):
        make_plan(RunConfig.from_dict({**base, "max_steps": 1}), 4096, 1)
    with pytest.raises(ValueError, match="unknown"):
        RunConfig.from_dict({**base, "learning_rate": 1})


def test_deepspeed_config_is_filled_from_the_run_config():
    base = {"preset": "hare-1.1b", "shards_dir": "-", "output_dir": "-", "micro_batch_size": 8, "token_batch": 2**21, "max_steps": 1}
    cfg = RunConfig.from_dict({**base, "deepspeed": {"stage": 2, "zero_optimization": {"overlap_comm": True}}})
    plan = make_plan(cfg, 2048, 16)
    runtime = Runtime(torch.device("cuda", 0), torch.bfloat16, "sdpa", rank=0, world_size=16, use_deepspeed=True)
    config = deepspeed_config(cfg, plan, runtime)
    assert config["zero_optimization"] == {"stage": 2, "overlap_comm": True} and "stage" not in config
    assert (config["train_batch_size"], config["train_micro_batch_size_per_gpu"], config["gradient_accumulation_steps"]) == (1024, 8, 8)
    assert config["bf16"] == {"enabled": True} and config["gradient_clipping"] == 1.0
    assert cfg.deepspeed == {"stage": 2, "zero_optimization": {"overlap_comm": True}}  # the run config is not mutated
    with pytest.raises(ValueError, match="stage 3"):
        deepspeed_config(RunConfig.from_dict({**base, "deepspeed": {"stage": 3}}), plan, runtime)


def test_lr_schedule_warms_up_then_decays_to_min():
    lrs = [lr_multiplier(s, warmup_steps=10, total_steps=100, min_ratio=0.1) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[100] == pytest.approx(0.1)


# --- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
    """A tiny model trained on CPU until it reproduces MEMORISED; (summary, output_dir)."""
    root = tmp_path_factory.mktemp("memorised")
    cycle = [1, *mistral_v1_tokenizer()(MEMORISED, add_special_tokens=False).input_ids]
    seq_len, rng = 64, np.random.default_rng(0)
    stream = np.tile(cycle, (seq_len + 1) // len(cycle) + 2)
    rows = np.stack([np.roll(stream, -int(rng.integers(len(cycle))))[: seq_len + 1] for _ in range(64)])
    shards = write_shards(root / "shards", rows, [40, 24])
    cfg = RunConfig(
        preset="tiny", shards_dir=str(shards), output_dir=str(root / "run"), micro_batch_size=8,
        max_steps=60, lr=1e-2, warmup_steps=2, save_every=30, log_every=30,
    )
    return train(cfg), root / "run"


def test_training_run_learns_and_writes_hf_checkpoint(memorised):
    summary, output_dir = memorised
    rows = read_metrics(output_dir)
    assert [r["step"] for r in rows] == list(range(1, 61))
    assert {"loss", "lr", "tokens_seen", "tokens_per_s", "mfu"} <= set(rows[0])
    assert rows[0]["mfu"] is None  # CPU, no peak_flops configured
    assert rows[-1]["tokens_seen"] == summary["tokens_seen"] == 60 * 8 * 64
    assert rows[0]["loss"] > 9.0 and summary["final_loss"] < 0.5 * rows[0]["loss"]
    assert summary["final_loss"] == rows[-1]["loss"] and summary["tokens_per_s"] > 0
    final = Path(summary["checkpoint_path"])
    assert final == output_dir / "final" and summary["checkpoint_sha256"] == directory_sha256(final)
    assert Path(summary["loss_curve_png"]).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-30", "checkpoint-60"]
    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.config.model_type == "mistral" and sum(p.numel() for p in model.parameters()) == PRESETS["tiny"].parameter_count()
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, len(tokenizer)) == (1, 2, 32000)
    assert tokenizer("Hello world").input_ids == mistral_v1_tokenizer()("Hello world").input_ids
    assert json.loads((final / "trainer_state.json").read_text())["step"] == 60


def run_config(shards: Path, output_dir: Path, **overrides) -> RunConfig:
    values = dict(
        preset="tiny", shards_dir=str(shards), output_dir=str(output_dir), micro_batch_size=4, grad_accum_steps=2,
        lr=3e-3, warmup_steps=2, save_every=3, log_every=100, seed=7,
    )
    return RunConfig(**{**values, **overrides})


def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    shards = write_shards(tmp_path / "shards", random_rows(20, 32), [20])
    output_dir = tmp_path / "run"
    cfg = run_config(shards, output_dir, max_steps=10)
    train(cfg)
    uninterrupted = read_metrics(output_dir)
    # A kill after step 6: everything later never happened (metrics keep the extra rows, as a real kill would).
    for name in ("checkpoint-9", "checkpoint-10", "final"):
        shutil.rmtree(output_dir / name)
    summary = train(cfg)
    resumed = read_metrics(output_dir)
    assert [r["step"] for r in resumed] == list(range(1, 11))
    assert resumed[:6] == uninterrupted[:6]  # kept as written (same wall times): steps 1-6 did not rerun
    for before, after in zip(uninterrupted, resumed):
        assert after["loss"] == pytest.approx(before["loss"], rel=1e-6, abs=1e-6)
        assert after["lr"] == pytest.approx(before["lr"])
    assert summary["tokens_seen"] == 10 * 8 * 32


def test_finished_run_extends_from_its_last_checkpoint(tmp_path):
    shards = write_shards(tmp_path / "shards", random_rows(20, 32), [20])
    output_dir = tmp_path / "run"
    train(run_config(shards, output_dir, max_steps=6))
    state = json.loads((output_dir / "checkpoint-6" / "trainer_state.json").read_text())
    assert (state["step"], state["rows_seen"]) == (6, 48)
    summary = train(run_config(shards, output_dir, max_steps=10))
    assert [r["step"] for r in read_metrics(output_dir)] == list(range(1, 11))
    state = json.loads((output_dir / "final" / "trainer_state.json").read_text())
    assert (state["step"], state["rows_seen"], state["tokens_seen"]) == (10, 80, summary["tokens_seen"])
    with pytest.raises(ValueError, match="rows_per_step"):
        train(run_config(shards, output_dir, max_steps=12, micro_batch_size=2))


def test_pipes_run_reports_materialization_and_inits_from_checkpoint(memorised, tmp_path):
    """Stage-2 style run (init_from) launched as Dagster Pipes would: env vars, file message channel."""
    _, memorised_dir = memorised
    shards = write_shards(tmp_path / "shards", random_rows(8, 32), [8])
    cfg = run_config(shards, tmp_path / "run", max_steps=2, save_every=0, init_from=str(memorised_dir / "final"))
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps(dataclasses.asdict(cfg)))
    messages = tmp_path / "messages.jsonl"
    context = {
        "asset_keys": ["checkpoints"], "code_version_by_asset_key": None, "provenance_by_asset_key": None,
        "partition_key": None, "partition_key_range": None, "partition_time_window": None,
        "run_id": "test-run", "job_name": None, "retry_number": 0, "extras": {},
    }
    env = {
        **os.environ,
        "DAGSTER_PIPES_CONTEXT": encode_param({"data": context}),
        "DAGSTER_PIPES_MESSAGES": encode_param({"path": str(messages)}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "model_training.train", "--run-config", str(config_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    sent = [json.loads(line) for line in messages.read_text().splitlines()]
    reports = [m["params"] for m in sent if m["method"] == "report_asset_materialization"]
    assert len(reports) == 1 and reports[0]["data_version"] == summary["checkpoint_sha256"]
    assert reports[0]["metadata"]["loss_curve_png"] == {"raw_value": summary["loss_curve_png"], "type": "path"}
    assert any(m["method"] == "log" and "step 2/2" in m["params"]["message"] for m in sent)
    state = json.loads((Path(summary["checkpoint_path"]) / "trainer_state.json").read_text())
    assert state["init_from"] == str(memorised_dir / "final")


# --- evaluation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memorised_model(memorised):
    summary, _ = memorised
    return load_checkpoint(summary["checkpoint_path"])


def sentence_items() -> list[dict]:
    """Next-word items on the memorised sentence, gold first among four choices (chance 0.25)."""
    prefix, sentence = MEMORISED.split("\n\n")[0] + "\n\n", MEMORISED.split("\n\n")[1]
    words, distractors = sentence.split(), ["cat", "blue", "house", "seven", "green"]
    return [
        {"context": prefix + " ".join(words[:i]), "choices": [f" {words[i]}"] + [f" {w}" for w in distractors if w != words[i]][:3], "gold": 0}
        for i in range(1, len(words))
    ]


def test_multiple_choice_accuracy_beats_chance_on_memorised_text(memorised_model):
    model, tokenizer = memorised_model
    items = sentence_items()
    scores = multiple_choice_accuracy(model, tokenizer, items)
    assert scores["n"] == len(items) and 0 <= scores["acc_norm"] <= 1
    assert scores["acc"] >= 0.75
    shuffled = [{**item, "gold": 1} for item in items]  # the memorised word is now a wrong answer
    assert multiple_choice_accuracy(model, tokenizer, shuffled, few_shot=items[:1])["acc"] <= 0.25


def test_batched_logliks_equal_one_at_a_time(memorised_model):
    model, tokenizer = memorised_model
    requests = [([1, *tokenizer(t, add_special_tokens=False).input_ids], [28705, 28781]) for t in ("a", "b c d e f", "Answer: A cat has")]
    batched = continuation_logliks(model, requests, batch_size=8)
    single = [continuation_logliks(model, [r], batch_size=1)[0] for r in requests]
    assert batched == pytest.approx(single, abs=1e-4)


def test_greedy_exact_match(memorised_model):
    model, tokenizer = memorised_model
    question = "How many legs does a cat have?"
    right = greedy_exact_match(model, tokenizer, [{"question": question, "answer": "Four.\n#### 4"}], max_new_tokens=16)
    wrong = greedy_exact_match(model, tokenizer, [{"question": question, "answer": "#### 5"}], max_new_tokens=16)
    assert (right["exact_match"], right["predictions"], wrong["exact_match"]) == (1.0, ["4"], 0.0)


def test_extract_number():
    assert extract_number("so 3 + 4 = 7 #### 1,234") == "1234"
    assert extract_number("The answer is 12.5 dollars, or -3") == "-3"
    assert extract_number("no number") is None


def test_ngram_accuracy_higher_on_memorised_text(memorised_model):
    model, tokenizer = memorised_model
    rng = np.random.default_rng(1)
    words = "apple window seven under garden rapid silver music paper yellow quiet mountain".split()
    random_texts = [" ".join(rng.choice(words, 30)) for _ in range(4)]
    seen = ngram_accuracy(model, tokenizer, [MEMORISED, "hi"], n=5, starts=5)
    unseen = ngram_accuracy(model, tokenizer, random_texts, n=5, starts=5)
    assert seen["skipped"] == 1 and seen["per_text"][1] is None and seen["pairs"] == 5
    assert unseen["pairs"] == 20 and all(0 <= v <= 1 for v in unseen["per_text"])
    assert seen["accuracy"] >= 0.6 > unseen["accuracy"]
