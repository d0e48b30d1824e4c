"""Pre-training loop for the HARE models (Mistral architecture, HF transformers).

    python -m model_training.train --run-config run.json
    deepspeed --num_gpus 8 -m model_training.train --run-config run.json   # with "deepspeed": {...}

run.json (defaults in ``RunConfig``)::

    {"preset": "hare-1.1b", "shards_dir": "lake/tokenized_shards/stage1", "output_dir": "runs/stage1",
     "seq_len": 2048, "micro_batch_size": 8, "token_batch": 2097152, "target_tokens": 52e9,
     "lr": 3e-4, "min_lr_ratio": 0.1, "warmup_steps": 2000, "weight_decay": 0.1, "grad_clip": 1.0,
     "seed": 0, "init_from": null, "save_every": 1000, "device": "auto", "dtype": "auto",
     "attn_implementation": "auto", "deepspeed": null}

- ``token_batch`` (tokens per optimizer step) derives ``grad_accum_steps``; give one or the other.
  ``target_tokens`` derives ``max_steps``; give one or the other.
- ``init_from``: an HF checkpoint directory (stage 1's ``final/``) to start stage 2 from, with a
  fresh optimizer and schedule.
- Resumable: when ``output_dir`` holds a ``checkpoint-<step>/``, the run continues from the newest
  one with its weights, optimizer, schedule and data position, and rewrites ``metrics.jsonl`` from there.
- Outputs: ``checkpoint-<step>/`` and ``final/`` (HF format + tokenizer + ``trainer_state.json``),
  ``metrics.jsonl`` (one JSON row per step), ``loss_curve.png``. The summary dict is printed as the
  last stdout line and, under Dagster Pipes, reported as the asset materialization with
  ``data_version = checkpoint_sha256``.
- ``deepspeed``: a DeepSpeed config dict (``{"stage": 2}`` is short for
  ``{"zero_optimization": {"stage": 2}}``), used only on CUDA; ZeRO stages 0-2, whose ranks hold the
  full weights, so rank 0 can write the HF checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import MistralForCausalLM

from .configs import ModelPreset, flops_per_token, get_preset
from .data import PackedSequences
from .tokenizer import save_tokenizer

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
METRICS_FILE = "metrics.jsonl"

# Dense bf16 peak FLOP/s per device, for MFU when run.json gives no peak_flops.
PEAK_BF16_FLOPS = {"H100": 989e12, "H800": 989e12, "H200": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12}


@dataclass(frozen=True)
class RunConfig:
    preset: str
    shards_dir: str
    output_dir: str
    seq_len: int | None = None  # default: the shards' sequence length
    micro_batch_size: int = 8
    grad_accum_steps: int | None = None
    token_batch: int | None = None
    max_steps: int | None = None
    target_tokens: float | None = None
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 0
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.95)
    adam_eps: float = 1e-8
    seed: int = 0
    init_from: str | None = None
    save_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 3  # newest checkpoint-<step>/ directories kept; 0 keeps all
    log_every: int = 10  # progress lines (metrics.jsonl still gets every step)
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = "auto"
    deepspeed: dict | None = None
    peak_flops: float | None = None  # per device, for MFU; None: known GPUs only, MFU null on CPU

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown run config keys: {unknown}")
        if "adam_betas" in values:
            values = {**values, "adam_betas": tuple(values["adam_betas"])}
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> RunConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class Plan:
    """What the config resolves to once the shards and the world size are known."""

    preset: ModelPreset
    seq_len: int
    world_size: int
    grad_accum_steps: int
    max_steps: int

    @property
    def rows_per_rank(self) -> int:
        return self.micro_batch_size * self.grad_accum_steps

    @property
    def micro_batch_size(self) -> int:
        return self._micro

    @property
    def rows_per_step(self) -> int:
        return self.rows_per_rank * self.world_size

    @property
    def tokens_per_step(self) -> int:
        return self.rows_per_step * self.seq_len


def make_plan(cfg: RunConfig, data: PackedSequences, world_size: int) -> Plan:
    preset = get_preset(cfg.preset)
    if data.seq_len > preset.max_seq_len:
        raise ValueError(f"seq_len {data.seq_len} exceeds {cfg.preset}'s max_seq_len {preset.max_seq_len}")
    if (cfg.grad_accum_steps is None) == (cfg.token_batch is None):
        if cfg.token_batch is not None:
            raise ValueError("give grad_accum_steps or token_batch, not both")
    rows_per_micro_step = cfg.micro_batch_size * world_size
    if cfg.token_batch is not None:
        grad_accum = max(1, round(cfg.token_batch / (rows_per_micro_step * data.seq_len)))
    else:
        grad_accum = cfg.grad_accum_steps or 1
    tokens_per_step = rows_per_micro_step * grad_accum * data.seq_len
    if (cfg.max_steps is None) == (cfg.target_tokens is None):
        raise ValueError("give exactly one of max_steps and target_tokens")
    max_steps = cfg.max_steps if cfg.max_steps is not None else math.ceil(cfg.target_tokens / tokens_per_step)
    plan = Plan(preset=preset, seq_len=data.seq_len, world_size=world_size, grad_accum_steps=grad_accum, max_steps=max_steps)
    object.__setattr__(plan, "_micro", cfg.micro_batch_size)
    return plan
