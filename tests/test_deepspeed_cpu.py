"""The DeepSpeed path for real on CPU: two ranks over gloo under the deepspeed launcher, ZeRO 1-3, started by
the `checkpoints` asset through Dagster Pipes; a killed rank's run resumes; the loss curve agrees with the
plain one-process run on the same global batch. Needs the `cpu-engines` extra (deepspeed); DeepSpeed
builds its shm op with g++ on first use (~33 s, cached in ~/.cache/torch_extensions)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml
from test_model_training import arc_release_row, random_rows, read_metrics, write_shards
from transformers import AutoModelForCausalLM

from model_training.configs import PRESETS
from model_training.run_config import RunConfig
from model_training.train import train

pytest.importorskip("deepspeed", reason="the DeepSpeed path needs the cpu-engines extra")

REPO = Path(__file__).resolve().parents[1]
RANKS = 2
# fp32 on both paths; ZeRO reduces the gradients over gloo in another order than one process sums them.
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4

# One run: 8 rows of 32 tokens per step, micro-batches of 2: 2 accumulation steps on each of 2 ranks,
# 4 in one process. The asset and the plain reference derive it from token_batch alike.
RUN = dict(preset="tiny", micro_batch_size=2, token_batch=8 * 32, seq_len=32, max_steps=6, lr=3e-3, warmup_steps=2,
           save_every=3, seed=7)


def reference_losses(shards: Path, output_dir: Path) -> list[float]:
    """The same run in one plain torch process (the python launcher's path)."""
    keys = ("preset", "micro_batch_size", "token_batch", "max_steps", "lr", "warmup_steps", "save_every", "seed")
    train(RunConfig(shards_dir=str(shards), output_dir=str(output_dir), **{k: RUN[k] for k in keys}))
    return [r["loss"] for r in read_metrics(output_dir)]


def write_config(tmp: Path, zero_stage: int) -> Path:
    raw = yaml.safe_load((REPO / "hare_assets" / "default_config.yaml").read_text())
    raw["training"].update(launcher="deepspeed", deepspeed_zero_stage=zero_stage, ranks_per_node=RANKS,
                           runs={"stage1": RUN}, ablation_arms=[])
    raw["tool"]["training"] = None  # no stage2 here for the tool fine-tune to continue from
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("zero_stage", [1, 3])
def test_checkpoints_asset_trains_on_two_deepspeed_ranks(zero_stage, hare_home, tmp_path, monkeypatch):
    """ZeRO-3 shards the weights: the HF checkpoint is gathered onto rank 0 and must hold every weight."""
    from hare_assets.definitions import build_definitions

    shards = write_shards(hare_home / "lake" / "tokenized_shards" / "stage1", random_rows(24, 32), [14, 10])
    monkeypatch.setenv("HARE_CONFIG", str(write_config(tmp_path, zero_stage)))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    defs = build_definitions()
    result = dg.materialize([defs.get_assets_def("checkpoints")], partition_key="stage1", resources=defs.resources,
                            instance=dg.DagsterInstance.ephemeral())
    (materialization,) = result.asset_materializations_for_node("checkpoints")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["launcher"], meta["world_size"], meta["zero_stage"]) == ("deepspeed", RANKS, zero_stage)
    assert (meta["steps"], meta["grad_accum_steps"], meta["tokens_per_step"]) == (6, 2, 8 * 32)

    run_dir = hare_home / "checkpoints" / "stage1"
    expected = reference_losses(shards, tmp_path / "plain")
    assert [r["loss"] for r in read_metrics(run_dir)] == pytest.approx(expected, rel=LOSS_RTOL)
    model = AutoModelForCausalLM.from_pretrained(run_dir / "final")
    assert sum(p.numel() for p in model.parameters()) == PRESETS["tiny"].parameter_count()
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "plain" / "final")
    for (name, weight), other in zip(model.state_dict().items(), plain.state_dict().values()):
        assert (weight - other).abs().max() < WEIGHT_ATOL, name
    assert_scores_in_lm_eval(run_dir / "final", tmp_path)


def assert_scores_in_lm_eval(checkpoint: Path, tmp_path: Path) -> None:
    """The checkpoint through lm-eval's hf model on a local arc_challenge item."""
    from hare_assets.core.settings import Benchmark
    from hare_assets.evaluation.harness import evaluate_checkpoint, v1_scores
    from hare_assets.evaluation.lm_eval_tasks import write_tasks

    arc = tmp_path / "arc"
    arc.mkdir()
    (arc / "ARC-Challenge-Test.jsonl").write_text(json.dumps(arc_release_row(
        "cat", "How many legs does a cat have?", ["Nine.", "A cat has 4 legs.", "Blue."], 1)) + "\n")
    spec = write_tasks([Benchmark(name="arc_challenge", uri=str(arc))], {"arc_challenge": 0}, tmp_path / "tasks", 16)
    results = evaluate_checkpoint(checkpoint, spec, backend="hf", batch_size=4, max_length=64)
    (row,) = v1_scores(results, spec)
    assert (row["n_items"], row["backend"]) == (1, "hf") and 0.0 <= row["value"] <= 1.0




def launch_config(tmp_path: Path, max_steps: int, zero_stage: int) -> tuple[Path, Path]:
    shards = write_shards(tmp_path / "shards", random_rows(24, 32), [14, 10])
    keys = ("preset", "micro_batch_size", "token_batch", "lr", "warmup_steps", "save_every", "seed")
    cfg = RunConfig(shards_dir=str(shards), output_dir=str(tmp_path / "run"), max_steps=max_steps, log_every=1,
                    deepspeed={"stage": zero_stage}, **{k: RUN[k] for k in keys})
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps(dataclasses.asdict(cfg)))
    return tmp_path / "run", config_path


def launch(config_path: Path) -> list[str]:
    """The command the checkpoints asset runs for launcher: deepspeed with two ranks per node."""
    from hare_assets.core.settings import Training
    from hare_assets.training.assets import launch_command

    return launch_command(Training(runs={}, launcher="deepspeed", ranks_per_node=RANKS), config_path)


def rank_process(launcher: psutil.Process, rank: int) -> psutil.Process | None:
    for child in launcher.children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "model_training.train" in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_killed_rank_resumes_at_the_same_step_and_data_position(tmp_path):
    """SIGKILL rank 1 after the step-3 checkpoint: the launcher ends the run; launched again, both ranks
    continue from that checkpoint (weights, ZeRO-2 optimizer shards, schedule, data position)."""
    output_dir, config_path = launch_config(tmp_path, max_steps=RUN["max_steps"], zero_stage=2)
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(launch(config_path), cwd=REPO, stdout=log, stderr=log, start_new_session=True)
        launcher, deadline = psutil.Process(proc.pid), time.monotonic() + 600
        while not (output_dir / "checkpoint-3" / "trainer_state.json").exists():
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        victim = rank_process(launcher, 1)
        assert victim is not None
        victim.kill()
        assert proc.wait(timeout=120) != 0  # the launcher stops the other rank and fails
    assert not (output_dir / "final").exists()
    last = max(int(p.name.split("-")[1]) for p in output_dir.glob("checkpoint-*"))
    assert 3 <= last < RUN["max_steps"]

    done = subprocess.run(launch(config_path), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows_per_step = 8
    assert f"resumed from {output_dir / f'checkpoint-{last}'} at step {last}, row {last * rows_per_step}" in done.stdout + done.stderr
    resumed = read_metrics(output_dir)
    assert [r["step"] for r in resumed] == list(range(1, RUN["max_steps"] + 1))
    expected = reference_losses(output_dir.parent / "shards", tmp_path / "plain")
    assert [r["loss"] for r in resumed] == pytest.approx(expected, rel=LOSS_RTOL)
    state = json.loads((output_dir / "final" / "trainer_state.json").read_text())
    assert (state["step"], state["rows_seen"]) == (RUN["max_steps"], RUN["max_steps"] * rows_per_step)
