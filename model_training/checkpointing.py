"""Checkpoints in ``output_dir``: ``checkpoint-<step>/`` (HF model + tokenizer + ``trainer_state.json`` +
optimizer state), ``final/`` (the same without optimizer state), written to a temporary folder and
swapped into place; the trainer state, and whether a run can resume from a saved one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import torch

from model_training.data import PackedSequences
from model_training.engines import barrier
from model_training.hashing import file_sha256
from model_training.run_config import Plan, RunConfig, Runtime
from model_training.tokenizer import save_tokenizer

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"


def new_state(cfg: RunConfig, plan: Plan, data: PackedSequences) -> dict:
    """trainer_state.json: the step, the data position and what it was trained on (no wall times,
    so identical runs give identical checkpoint hashes)."""
    return {
        "step": 0,
        "max_steps": plan.max_steps,
        "rows_seen": 0,
        "tokens_seen": 0,
        "loss": None,
        "preset": cfg.preset,
        "seq_len": plan.seq_len,
        "rows_per_step": plan.rows_per_step,
        "data_seed": cfg.seed,
        "shards_manifest_sha256": file_sha256(data.directory / "manifest.json"),
        "init_from": cfg.init_from,
        # Fine-tuning shards name the chat template they were rendered in; checkpoints save it with the tokenizer.
        "chat_template": data.manifest.get("chat_template"),
        "functional_tokens": cfg.functional_tokens,  # the tool fine-tune's functions (0: none added)
        "init_weights_sha256": None,  # set when the run starts: equal across runs that start identically
    }


def check_resumable(saved: dict, fresh: dict, checkpoint: Path) -> None:
    """The data position only means the same thing with the same shards and batch geometry."""
    for key in ("preset", "seq_len", "rows_per_step", "data_seed", "shards_manifest_sha256", "functional_tokens"):
        if saved[key] != fresh[key]:
            raise ValueError(f"cannot resume from {checkpoint}: {key} was {saved[key]!r}, the config gives {fresh[key]!r}")


def latest_checkpoint(output_dir: Path) -> Path | None:
    steps = [
        (int(m.group(1)), p)
        for p in output_dir.glob("checkpoint-*")
        if (m := CHECKPOINT_RE.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return max(steps)[1] if steps else None


def weights_sha256(model: torch.nn.Module) -> str:
    """Content hash of the weights (names and bytes, in state-dict order)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_hf_checkpoint(directory: Path, model: torch.nn.Module, state: dict) -> None:
    model.save_pretrained(directory)
    save_tokenizer(directory, state.get("chat_template"), state.get("functional_tokens", 0))
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def publish(tmp: Path, target: Path) -> None:
    """Swap a fully written directory into place, so a kill never leaves a half checkpoint."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def save_checkpoint(output_dir: Path, backend, state: dict, runtime: Runtime, keep: int) -> Path:
    target = output_dir / f"checkpoint-{state['step']}"
    tmp = output_dir / f".tmp-{target.name}"
    if runtime.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    backend.save_state(tmp)  # every rank: DeepSpeed writes its optimizer shards
    barrier()
    with backend.full_weights():
        if runtime.is_main:
            write_hf_checkpoint(tmp, backend.model, state)
    if runtime.is_main:
        publish(tmp, target)
        prune_checkpoints(output_dir, keep)
    barrier()
    return target


def prune_checkpoints(output_dir: Path, keep: int) -> None:
    if keep <= 0:
        return
    checkpoints = sorted((int(m.group(1)), p) for p in output_dir.iterdir() if (m := CHECKPOINT_RE.match(p.name)))
    for _, path in checkpoints[:-keep]:
        shutil.rmtree(path)


def write_final(output_dir: Path, model: torch.nn.Module, state: dict) -> Path:
    target, tmp = output_dir / "final", output_dir / ".tmp-final"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_hf_checkpoint(tmp, model, state)
    publish(tmp, target)
    return target
