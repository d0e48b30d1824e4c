"""model_training: presets, packed-shard loader, CPU training with resume, Pipes reporting, evaluation.

All offline: shards are written here, the tokenizer comes from mistral-common's bundled model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import torch
from dagster_pipes import encode_param
from transformers import AutoModelForCausalLM, AutoTokenizer, MistralForCausalLM

from model_training.configs import PRESETS, flops_per_token
from model_training.data import PackedSequences
from model_training.engines import deepspeed_config, lr_multiplier
from model_training.evaluate import (
    leakage_delta,
    load_checkpoint,
    ngram_accuracy,
    ngram_accuracy_tokens,
)
from model_training.hashing import directory_sha256
from model_training.run_config import RunConfig, Runtime, make_plan
from model_training.tokenizer import mistral_v1_tokenizer, sentencepiece_model_path
from model_training.train import train

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
    # The default token batch is the paper's 2M tokens: 16 GPUs x 8 rows x 2048 tokens x 8 accumulation steps.
    plan = make_plan(RunConfig.from_dict({**base, "micro_batch_size": 8, "target_tokens": 52e9}), 2048, 16)
    assert plan.grad_accum_steps == 8 and plan.tokens_per_step == 2 * 2**20
    assert plan.max_steps == 24796  # ceil(52e9 / 2 Mi tokens)
    one_gpu = make_plan(RunConfig.from_dict({**base, "micro_batch_size": 8, "max_steps": 1}), 2048, 1)
    assert one_gpu.grad_accum_steps == 128 and one_gpu.tokens_per_step == 2 * 2**20
    explicit = make_plan(RunConfig.from_dict({**base, "micro_batch_size": 8, "grad_accum_steps": 3, "max_steps": 1}), 2048, 1)
    assert explicit.grad_accum_steps == 3  # an explicit accumulation wins over the token batch
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
        preset="tiny", shards_dir=str(shards), output_dir=str(root / "run"), micro_batch_size=8, grad_accum_steps=1,
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


def train_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "model_training.train", "--run-config", str(config_path)]


def test_killed_training_process_resumes_at_the_same_step_and_data_position(tmp_path):
    """SIGKILL the real training process mid-run; a new process continues from the last checkpoint
    with the same step, row position, weights and schedule as a run that was never interrupted."""
    shards = write_shards(tmp_path / "shards", random_rows(24, 32), [14, 10])
    train(run_config(shards, tmp_path / "reference", max_steps=12, micro_batch_size=2))
    reference = read_metrics(tmp_path / "reference")

    output_dir = tmp_path / "run"
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps(dataclasses.asdict(run_config(shards, output_dir, max_steps=12, micro_batch_size=2))))
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(train_command(config_path), cwd=REPO, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (output_dir / "checkpoint-3" / "trainer_state.json").exists():
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not (output_dir / "final").exists()
    last = max(int(p.name.split("-")[1]) for p in output_dir.glob("checkpoint-*"))
    assert last < 12

    done = subprocess.run(train_command(config_path), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows_per_step = 2 * 2
    assert f"resumed from {output_dir / f'checkpoint-{last}'} at step {last}, row {last * rows_per_step}" in done.stderr
    resumed = read_metrics(output_dir)
    assert [r["step"] for r in resumed] == list(range(1, 13))  # steps after the checkpoint rerun once, not twice
    for before, after in zip(reference, resumed):
        assert after["loss"] == pytest.approx(before["loss"], rel=1e-5, abs=1e-6), after["step"]
        assert after["lr"] == pytest.approx(before["lr"])
    state = json.loads((output_dir / "final" / "trainer_state.json").read_text())
    assert (state["step"], state["rows_seen"], state["tokens_seen"]) == (12, 12 * rows_per_step, 12 * rows_per_step * 32)
    reference_state = json.loads((tmp_path / "reference" / "final" / "trainer_state.json").read_text())
    assert state["init_weights_sha256"] == reference_state["init_weights_sha256"]  # same seed, same init


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


def bigram_model(successor: dict[int, int]) -> MistralForCausalLM:
    """A tiny Mistral whose greedy next token is successor[last token]: attention and MLP outputs are
    zeroed, so logits depend only on the last token's embedding, and lm_head maps it to its successor."""
    torch.manual_seed(0)
    model = MistralForCausalLM(PRESETS["tiny"].to_mistral_config()).eval()
    hidden = model.config.hidden_size
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = torch.nn.functional.normalize(torch.randn_like(model.model.embed_tokens.weight), dim=-1) * hidden**0.5
        model.model.embed_tokens.weight.copy_(embed)
        head = torch.nn.functional.normalize(torch.randn_like(model.lm_head.weight), dim=-1)
        for token, nxt in successor.items():
            head[nxt] = embed[token]  # logit hidden for the successor vs at most ~3 sqrt(hidden) for others
        model.lm_head.weight.copy_(head)
    return model


def test_ngram_accuracy_on_a_hand_checked_example():
    """Sample A: 20 tokens, the model's chain broken after position 9; starts linspace(2, 15, 5) =
    2, 5, 8, 11, 15; the 5-gram at s needs the links into s..s+4, so only s = 8 misses: 4/5.
    Sample B: 12 tokens, broken after position 3; starts 2, 3, 4, 5, 7; s = 2, 3, 4 miss: 2/5.
    Sample C: 6 tokens, no room for a 5-gram after a prefix (6 - 5 - 1 = 0): skipped.
    Mean over the scored samples: (0.8 + 0.4) / 2 = 0.6."""
    sample_a, sample_b, sample_c = list(range(1000, 1020)), list(range(1100, 1112)), list(range(1200, 1206))
    successor = {}
    for sample in (sample_a, sample_b, sample_c):
        successor.update(zip(sample[:-1], sample[1:]))
    successor[sample_a[9]] = 1500
    successor[sample_b[3]] = 1600
    model = bigram_model(successor)
    result = ngram_accuracy_tokens(model, [sample_a, sample_b, sample_c], bos_id=1, eos_id=2, n=5, starts=5)
    assert result["per_text"] == [0.8, 0.4, None]
    assert (result["accuracy"], result["pairs"], result["skipped"]) == (pytest.approx(0.6), 10, 1)
    intact = bigram_model({**successor, sample_a[9]: sample_a[10], sample_b[3]: sample_b[4]})
    assert ngram_accuracy_tokens(intact, [sample_a, sample_b], bos_id=1, eos_id=2)["accuracy"] == 1.0


REPHRASED_MEMORISED = (
    "Question: A cat, how many legs does it have?\nAnswer: It has 4 legs, the cat. #### 4\n\n"
    "Near the old river bank, the lazy dog is jumped over by the quick brown fox.\n\n"
)


def test_leakage_delta_sign_follows_table_6(memorised_model):
    """Table 6: delta = D - D'. Positive (GSM8K +7.63) when the original wording is reproduced better,
    as for text the model was trained on; negative (ARC -0.52) when the rephrased set does better."""
    model, tokenizer = memorised_model
    leaked = leakage_delta(model, tokenizer, [MEMORISED], [REPHRASED_MEMORISED])
    assert leaked["original"] > leaked["rephrased"]
    assert leaked["delta"] == pytest.approx(leaked["original"] - leaked["rephrased"]) and leaked["delta"] > 0.3
    reverse = leakage_delta(model, tokenizer, [REPHRASED_MEMORISED], [MEMORISED])
    assert reverse["delta"] == pytest.approx(-leaked["delta"])
    assert leaked["delta_stderr"] is None and leaked["scored_original"] == 1  # one text a side: no error
    both = leakage_delta(model, tokenizer, [MEMORISED, REPHRASED_MEMORISED], [REPHRASED_MEMORISED, MEMORISED])
    assert both["delta"] == pytest.approx(0.0) and both["delta_stderr"] == pytest.approx(
        2 ** 0.5 * abs(leaked["original"] - leaked["rephrased"]) / 2)  # each side: std |a-b|/sqrt2 over sqrt2
    assert leakage_delta(model, tokenizer, ["too short"], [MEMORISED]) is None


# --- lm-eval on the checkpoints ----------------------------------------------------------------


def arc_release_row(item_id: str, question: str, options: list[str], answer: int) -> dict:
    labels = "ABCD"[: len(options)]
    return {"id": item_id, "question": {"stem": question, "choices": [{"text": t, "label": l} for t, l in zip(options, labels)]},
            "answerKey": labels[answer]}


@pytest.fixture()
def offline_hf(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_checkpoint_loads_in_lm_eval_and_scores_local_task(memorised, tmp_path, offline_hf):
    """The trained checkpoint through lm-eval's own hf model and its arc_challenge task on a local file:
    the memorised answer wins (gold is not the first option)."""
    from hare_assets.core.settings import Benchmark
    from hare_assets.evaluation.harness import evaluate_checkpoint, v1_scores
    from hare_assets.evaluation.lm_eval_tasks import write_tasks

    summary, _ = memorised
    arc = tmp_path / "arc"
    arc.mkdir()
    (arc / "ARC-Challenge-Test.jsonl").write_text(json.dumps(arc_release_row(
        "cat", "How many legs does a cat have?",
        ["A dog has 9 eyes.", "The sky is made of jam.", "A cat has 4 legs.", "Three birds sing at noon."], 2)) + "\n")
    spec = write_tasks([Benchmark(name="arc_challenge", uri=str(arc))], {"arc_challenge": 25}, tmp_path / "tasks", 16)
    config = (tmp_path / "tasks" / "hare_arc_challenge.yaml").read_text()
    assert "include: " in config and "lm_eval/tasks/arc/arc_challenge.yaml" in config and "dataset_path: json" in config
    results = evaluate_checkpoint(Path(summary["checkpoint_path"]), spec, backend="hf", batch_size=4, max_length=64)
    assert results["results"]["hare_arc_challenge"]["acc,none"] == 1.0
    (row,) = v1_scores(results, spec)
    assert row["benchmark"] == "arc_challenge" and row["metric"] == "acc_norm" and row["value"] == 1.0
    assert (row["n_items"], row["few_shot"], row["data"], row["backend"]) == (1, 0, "local", "hf")  # no other item to show


# Run in a child process: importing all six lm-eval tasks' dependencies (datasets, evaluate, ...) in the
# pytest process leaves handlers on pytest's captured streams that break later capsys tests.
SAMPLE_SCORING = """
import json, sys
from pathlib import Path
from hare_assets.evaluation.harness import evaluate_checkpoint, v1_scores
from hare_assets.evaluation.lm_eval_tasks import write_tasks
from hare_assets.core.sample.fixtures import write_fixtures
from hare_assets.core.settings import BENCHMARK_NAMES, Benchmark

root, checkpoint = Path(sys.argv[1]), Path(sys.argv[2])
write_fixtures(root)
benchmarks = [Benchmark(name=n, uri=str(root / "benchmarks" / n)) for n in BENCHMARK_NAMES]
few_shot = {"arc_challenge": 25, "hellaswag": 10, "truthfulqa": 0, "mmlu": 5, "winogrande": 5, "gsm8k": 5}
spec = write_tasks(benchmarks, few_shot, root / "tasks", gsm8k_max_new_tokens=8)
results = evaluate_checkpoint(checkpoint, spec, backend="hf", limit=2, batch_size=8, max_length=64)
subjects = {t: results["results"][t]["acc,none"] for t in spec.benchmarks["mmlu"].tasks}
print(json.dumps({"rows": v1_scores(results, spec), "mmlu_subjects": subjects}))
"""


def test_sample_benchmarks_score_through_lm_eval_v1_tasks(memorised, tmp_path):
    """All six sample fixtures as local lm-eval tasks: v1 metric per benchmark, shots capped by what a
    split holds (the scored item never appears in its own context), MMLU one task per subject."""
    summary, _ = memorised
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", SAMPLE_SCORING, str(tmp_path), summary["checkpoint_path"]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    rows = {r["benchmark"]: r for r in out["rows"]}
    assert list(out["mmlu_subjects"]) == ["hare_mmlu_astronomy", "hare_mmlu_high_school_biology"]
    assert {b: r["metric"] for b, r in rows.items()} == {
        "mmlu": "acc", "arc_challenge": "acc_norm", "truthfulqa": "mc2", "winogrande": "acc",
        "hellaswag": "acc_norm", "gsm8k": "exact_match_strict"}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows.values())
    assert {b: r["n_items"] for b, r in rows.items()} == {"mmlu": 4, "arc_challenge": 2, "truthfulqa": 2,
                                                          "winogrande": 2, "hellaswag": 2, "gsm8k": 2}
    # 8 items in one split: at most 7 shots besides the scored one; MMLU's 5 come from its dev split.
    assert {b: r["few_shot"] for b, r in rows.items()} == {"mmlu": 5, "arc_challenge": 7, "truthfulqa": 0,
                                                           "winogrande": 5, "hellaswag": 7, "gsm8k": 5}
    assert rows["mmlu"]["value"] == pytest.approx(sum(out["mmlu_subjects"].values()) / 2)


def test_mmlu_is_the_unweighted_mean_of_subjects():
    from hare_assets.evaluation.harness import v1_scores
    from hare_assets.evaluation.lm_eval_tasks import BenchmarkTasks, TaskSpec

    spec = TaskSpec(Path("."), {"mmlu": BenchmarkTasks("mmlu", "acc,none", "local", "test", ["hare_mmlu_a", "hare_mmlu_b"])})
    results = {"results": {"hare_mmlu_a": {"acc,none": 1.0, "acc_stderr,none": 0.03},
                           "hare_mmlu_b": {"acc,none": 0.0, "acc_stderr,none": 0.04}},
               "n-samples": {"hare_mmlu_a": {"effective": 300, "original": 300},
                             "hare_mmlu_b": {"effective": 100, "original": 250}},
               "n-shot": {"hare_mmlu_a": 5, "hare_mmlu_b": 5}}
    (row,) = v1_scores(results, spec)
    assert row["value"] == 0.5 and row["n_items"] == 400  # lm-eval's size-weighted group would say 0.75
    assert row["stderr"] == pytest.approx(0.025)  # sqrt(0.03^2 + 0.04^2) / 2: the mean of two subjects
    # 400 scored of 550 in the data and of the 14042 the v1 leaderboard scored: a subset.
    assert (row["n_items_in_data"], row["n_items_full"], row["subset"]) == (550, 14042, True)
    assert (row["few_shot"], row["v1_few_shot"]) == (5, 5)
    results["results"]["hare_mmlu_b"]["acc_stderr,none"] = "N/A"  # lm-eval's word for one scored item
    assert v1_scores(results, spec)[0]["stderr"] is None


def test_launch_command_for_each_launcher():
    from hare_assets.core.settings import Training
    from hare_assets.training.assets import launch_command

    config = Path("/h/checkpoints/stage1.run.json")
    plain = launch_command(Training(runs={}), config)
    assert plain == [sys.executable, "-m", "model_training.train", "--run-config", str(config)]
    cluster = launch_command(Training(runs={}, launcher="deepspeed", ranks_per_node=8,
                                      command_prefix=("srun", "--nodes=2")), config)
    assert cluster == ["srun", "--nodes=2", str(Path(sys.executable).with_name("deepspeed")), "--num_accelerators", "8",
                       "--module", "model_training.train", "--run-config", str(config)]


def test_hub_benchmarks_use_lm_eval_builtin_tasks_with_v1_shots(tmp_path):
    """hf:// benchmarks: wrappers around lm-eval's own tasks (its hub datasets), only the shots set."""
    import yaml

    from hare_assets.core.settings import Benchmark
    from hare_assets.evaluation.lm_eval_tasks import write_tasks

    benchmarks = [Benchmark(name="mmlu", uri="hf://cais/mmlu?config=all"), Benchmark(name="gsm8k", uri="hf://openai/gsm8k")]
    spec = write_tasks(benchmarks, {"mmlu": 5, "gsm8k": 5}, tmp_path, gsm8k_max_new_tokens=256)
    assert len(spec.benchmarks["mmlu"].tasks) == 57 and spec.benchmarks["mmlu"].source == "hub"
    subject = yaml.safe_load((tmp_path / "hare_mmlu_abstract_algebra.yaml").read_text())
    assert subject["include"].endswith("lm_eval/tasks/mmlu/default/mmlu_abstract_algebra.yaml")
    assert (subject["num_fewshot"], subject["dataset_path"]) == (5, "cais/mmlu") and "dataset_name" not in subject
    gsm8k = yaml.safe_load((tmp_path / "hare_gsm8k.yaml").read_text())
    assert (gsm8k["dataset_path"], gsm8k["num_fewshot"], gsm8k["generation_kwargs"]["max_gen_toks"]) == ("openai/gsm8k", 5, 256)
    assert "dataset_kwargs" not in gsm8k and "process_docs" not in gsm8k
