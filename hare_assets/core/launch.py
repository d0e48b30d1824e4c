"""The training process: its run.json and its command. checkpoints and the tool fine-tune launch model_training.train
the same way."""

from __future__ import annotations

import sys
from pathlib import Path

from hare_assets.core.settings import Training, TrainRun


def launch_command(training: Training, config_path: Path) -> list[str]:
    """The training process: plain python (one process; CPU or one GPU) or the deepspeed launcher
    (`ranks_per_node` ranks: one per GPU, or CPU processes), after `command_prefix` (e.g. srun on a Slurm
    cluster: docs/SCALING.md). The launcher is the one installed beside this interpreter: no venv on PATH needed."""
    args = ["--run-config", str(config_path)]
    if training.launcher == "deepspeed":
        # --num_accelerators: the launcher's name for --num_gpus that also counts CPU ranks.
        ranks = ["--num_accelerators", str(training.ranks_per_node)] if training.ranks_per_node else []
        return [*training.command_prefix, str(Path(sys.executable).with_name("deepspeed")), *ranks,
                "--module", "model_training.train", *args]
    return [*training.command_prefix, sys.executable, "-m", "model_training.train", *args]


def train_run_json(training: Training, cfg: TrainRun, shards_dir: Path, output_dir: Path, init_from: Path | None,
                   **extra) -> dict:
    """model_training's run.json for a configured run (`extra`: keys of fine-tunes, e.g. functional_tokens)."""
    return {
        "preset": cfg.preset,
        "shards_dir": str(shards_dir),
        "output_dir": str(output_dir),
        "init_from": str(init_from) if init_from else None,
        "seq_len": cfg.seq_len,
        "micro_batch_size": cfg.micro_batch_size,
        "token_batch": cfg.token_batch,
        "grad_accum_steps": cfg.grad_accum_steps,
        "max_steps": cfg.max_steps,
        "target_tokens": cfg.target_tokens,
        "lr": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "save_every": cfg.save_every,
        "seed": cfg.seed,
        "peak_flops": cfg.peak_flops,
        "deepspeed": {"zero_optimization": {"stage": training.deepspeed_zero_stage}}
        if training.launcher == "deepspeed" else None,
        **extra,
    }
