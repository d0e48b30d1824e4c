"""run.json and what it resolves to: ``RunConfig`` (the file, with its defaults), ``Plan`` (the batch
geometry and step count against the shards and the number of ranks) and ``Runtime`` (device, dtype,
attention kernel and rank on this machine)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from model_training.configs import ModelPreset, get_preset


@dataclass(frozen=True)
class RunConfig:
    preset: str
    shards_dir: str
    output_dir: str
    seq_len: int | None = None  # default: the shards' sequence length
    micro_batch_size: int = 8
    grad_accum_steps: int | None = None  # given: wins over token_batch
    token_batch: int = 2_097_152  # the paper's 2M tokens per optimizer step
    max_steps: int | None = None
    target_tokens: float | None = None
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 0
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # 0 disables clipping
    adam_betas: tuple[float, float] = (0.9, 0.95)
    adam_eps: float = 1e-8
    seed: int = 0
    init_from: str | None = None
    # The tool fine-tune: add <fn_0>..<fn_{n-1}> and <fn_end> to the tokenizer and the embeddings (0: none).
    functional_tokens: int = 0
    save_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 3  # newest checkpoint-<step>/ kept; 0 keeps all
    log_every: int = 10  # progress lines; metrics.jsonl gets every step
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = "auto"
    deepspeed: dict | None = None
    peak_flops: float | None = None  # per device, for MFU; None: known GPUs only, MFU null on CPU

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
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
    """The config resolved against the shards and the number of ranks."""

    preset: ModelPreset
    seq_len: int
    micro_batch_size: int
    grad_accum_steps: int
    world_size: int
    max_steps: int

    @property
    def rows_per_rank(self) -> int:
        return self.micro_batch_size * self.grad_accum_steps

    @property
    def rows_per_step(self) -> int:
        return self.rows_per_rank * self.world_size

    @property
    def tokens_per_step(self) -> int:
        return self.rows_per_step * self.seq_len


def make_plan(cfg: RunConfig, seq_len: int, world_size: int) -> Plan:
    preset = get_preset(cfg.preset)
    if seq_len > preset.max_seq_len:
        raise ValueError(f"seq_len {seq_len} exceeds {cfg.preset}'s max_seq_len {preset.max_seq_len}")
    rows_per_micro_step = cfg.micro_batch_size * world_size
    if cfg.grad_accum_steps is not None:
        grad_accum = cfg.grad_accum_steps
    else:
        grad_accum = max(1, round(cfg.token_batch / (rows_per_micro_step * seq_len)))
    if (cfg.max_steps is None) == (cfg.target_tokens is None):
        raise ValueError("give exactly one of max_steps and target_tokens")
    max_steps = cfg.max_steps
    if max_steps is None:
        max_steps = math.ceil(cfg.target_tokens / (rows_per_micro_step * grad_accum * seq_len))
    return Plan(preset, seq_len, cfg.micro_batch_size, grad_accum, world_size, max_steps)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: plain fp32
    attn_implementation: str
    rank: int
    world_size: int
    use_deepspeed: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_runtime(cfg: RunConfig) -> Runtime:
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available()
    if cfg.device == "auto":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    else:
        device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast
    if cfg.dtype == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    elif cfg.dtype in ("bf16", "fp32"):
        bf16 = cfg.dtype == "bf16"
    else:
        raise ValueError(f"dtype {cfg.dtype!r}: use auto, bf16 or fp32")
    amp_dtype = torch.bfloat16 if bf16 else None
    attn = cfg.attn_implementation
    if attn == "auto":
        flash = device.type == "cuda" and bf16 and importlib.util.find_spec("flash_attn") is not None
        attn = "flash_attention_2" if flash else "sdpa"
    use_deepspeed = cfg.deepspeed is not None
    if world_size > 1 and not use_deepspeed:
        raise ValueError("multi-process runs go through DeepSpeed: set `deepspeed`")
    return Runtime(device, amp_dtype, attn, rank, world_size, use_deepspeed)
