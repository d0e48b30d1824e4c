"""Pre-training loop for the HARE models (Mistral architecture, HF transformers).

    python -m model_training.train --run-config run.json
    deepspeed --num_gpus 8 --module model_training.train --run-config run.json   # with "deepspeed": {...}

run.json (defaults in ``RunConfig``)::

    {"preset": "hare-1.1b", "shards_dir": "lake/tokenized_shards/stage1", "output_dir": "runs/stage1",
     "seq_len": 2048, "micro_batch_size": 8, "token_batch": 2097152, "target_tokens": 52e9,
     "lr": 3e-4, "min_lr_ratio": 0.1, "warmup_steps": 2000, "weight_decay": 0.1, "grad_clip": 1.0,
     "seed": 0, "init_from": null, "save_every": 1000, "device": "auto", "dtype": "auto",
     "attn_implementation": "auto", "deepspeed": null}

- ``token_batch`` (tokens per optimizer step, default 2M as in the paper) derives
  ``grad_accum_steps`` = token_batch / (micro_batch_size x ranks x seq_len), at least 1; an explicit
  ``grad_accum_steps`` wins. ``target_tokens`` derives ``max_steps``: give exactly one.
- ``init_from``: an HF checkpoint directory (stage 1's ``final/``) to start stage 2 from, with a
  fresh optimizer and schedule.
- Resumable: when ``output_dir`` holds a ``checkpoint-<step>/``, the run continues from the newest
  one with its weights, optimizer, schedule and data position, and rewrites ``metrics.jsonl`` from
  there. A larger ``max_steps`` continues a finished run.
- Outputs in ``output_dir``: ``checkpoint-<step>/`` (HF model + tokenizer + ``trainer_state.json`` +
  optimizer state), ``final/`` (the same without optimizer state), ``metrics.jsonl`` (one JSON row
  per step), ``loss_curve.png``. The summary dict (see ``summarize``) is printed as the last stdout
  line and, under Dagster Pipes, reported as the asset materialization with
  ``data_version = checkpoint_sha256``.
- ``dtype``: "auto" is bf16 autocast over fp32 weights on CUDA with bf16, else fp32; "bf16" or "fp32"
  force it. ``attn_implementation``: "auto" is flash_attention_2 when flash_attn is importable on
  CUDA with bf16, else sdpa.
- ``deepspeed``: a DeepSpeed config dict (``{"stage": 2}`` is short for
  ``{"zero_optimization": {"stage": 2}}``); batch sizes, clipping and bf16 are filled in from this
  config. Used only on CUDA, ignored with a log line on CPU. ZeRO stages 0-2 only: their ranks hold
  the full weights, so rank 0 writes the HF checkpoint directly.
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
import torch.distributed as dist
import torch.nn.functional as F
from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
from transformers import AutoModelForCausalLM, MistralForCausalLM
from transformers.utils import logging as hf_logging

from model_training.configs import ModelPreset, flops_per_token, get_preset
from model_training.data import PackedSequences
from model_training.hashing import directory_sha256, file_sha256
from model_training.tokenizer import save_tokenizer

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
METRICS_FILE = "metrics.jsonl"
LOSS_CURVE_FILE = "loss_curve.png"

# Dense bf16 peak FLOP/s per device, for MFU when run.json gives no peak_flops.
PEAK_BF16_FLOPS = {"H100": 989e12, "H800": 989e12, "H200": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12}


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
    use_deepspeed = cfg.deepspeed is not None and device.type == "cuda"
    if world_size > 1 and not use_deepspeed:
        raise ValueError("multi-process runs go through DeepSpeed: set `deepspeed` and run on CUDA")
    return Runtime(device, amp_dtype, attn, rank, world_size, use_deepspeed)


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to min_ratio at total_steps (step counts from 0)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_model(preset: ModelPreset, weights_from: str | os.PathLike | None, attn_implementation: str) -> MistralForCausalLM:
    """fp32 weights, fresh from the preset or loaded from an HF checkpoint of the same shape."""
    if weights_from is None:
        return AutoModelForCausalLM.from_config(preset.to_mistral_config(), attn_implementation=attn_implementation)
    model = AutoModelForCausalLM.from_pretrained(weights_from, attn_implementation=attn_implementation)
    expected, found = preset.to_mistral_config(), model.config
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"):
        if getattr(expected, key) != getattr(found, key):
            raise ValueError(f"{weights_from}: {key} {getattr(found, key)} does not match the preset's {getattr(expected, key)}")
    return model.float()  # DeepSpeed checkpoints are saved in bf16


def causal_lm_loss(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy of rows (batch, seq_len + 1): inputs row[:-1], labels row[1:]."""
    logits = model(input_ids=rows[:, :-1], use_cache=False).logits
    return F.cross_entropy(logits.float().flatten(0, 1), rows[:, 1:].flatten())


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only, not on norm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, cfg: RunConfig, plan: Plan, runtime: Runtime):
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps,
        fused=runtime.device.type == "cuda",
    )
    schedule = partial(lr_multiplier, warmup_steps=cfg.warmup_steps, total_steps=plan.max_steps, min_ratio=cfg.min_lr_ratio)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


class TorchBackend:
    """One process: fp32 master weights, bf16 autocast when the runtime asks for it."""

    def __init__(self, model: torch.nn.Module, cfg: RunConfig, plan: Plan, runtime: Runtime):
        self.model = model
        self.optimizer, self.scheduler = make_optimizer(model, cfg, plan, runtime)
        self.grad_clip = cfg.grad_clip or math.inf
        self.grad_accum_steps = plan.grad_accum_steps
        self.runtime = runtime

    @property
    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def micro_step(self, rows: torch.Tensor) -> torch.Tensor:
        amp = self.runtime.amp_dtype
        with torch.autocast(self.runtime.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = causal_lm_loss(self.model, rows)
        (loss / self.grad_accum_steps).backward()
        return loss.detach()

    def optimizer_step(self) -> float:
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(grad_norm)

    def save_state(self, directory: Path) -> None:
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}, directory / OPTIMIZER_FILE)

    def load_state(self, directory: Path) -> None:
        state = torch.load(directory / OPTIMIZER_FILE, map_location=self.runtime.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def deepspeed_config(cfg: RunConfig, plan: Plan, runtime: Runtime) -> dict:
    config = json.loads(json.dumps(cfg.deepspeed))  # deep copy: the caller's dict stays as given
    zero = config.setdefault("zero_optimization", {})
    if "stage" in config:
        zero["stage"] = config.pop("stage")
    if zero.get("stage", 0) > 2:
        raise ValueError("ZeRO stage 3 is not supported: rank 0 must hold the full weights to write the HF checkpoint")
    config.update(
        train_batch_size=plan.rows_per_step,
        train_micro_batch_size_per_gpu=plan.micro_batch_size,
        gradient_accumulation_steps=plan.grad_accum_steps,
        gradient_clipping=cfg.grad_clip,
    )
    config.setdefault("bf16", {"enabled": runtime.amp_dtype == torch.bfloat16})
    return config


class DeepSpeedBackend:
    """DeepSpeed ZeRO 0-2: the engine owns mixed precision, accumulation, clipping and the schedule."""

    def __init__(self, model: torch.nn.Module, cfg: RunConfig, plan: Plan, runtime: Runtime):
        import deepspeed  # only on GPU runs that ask for it

        optimizer, scheduler = make_optimizer(model, cfg, plan, runtime)
        self.engine, _, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=deepspeed_config(cfg, plan, runtime)
        )
        self.model = self.engine.module

    @property
    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def micro_step(self, rows: torch.Tensor) -> torch.Tensor:
        loss = causal_lm_loss(self.engine, rows)
        self.engine.backward(loss)  # scales by 1 / gradient_accumulation_steps itself
        self.engine.step()  # steps the optimizer only at the accumulation boundary
        return loss.detach()

    def optimizer_step(self) -> float:
        return float(self.engine.get_global_grad_norm() or 0.0)

    def save_state(self, directory: Path) -> None:
        self.engine.save_checkpoint(str(directory / "deepspeed"), tag="state")

    def load_state(self, directory: Path) -> None:
        self.engine.load_checkpoint(str(directory / "deepspeed"), tag="state")


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def mean_across_ranks(value: torch.Tensor) -> float:
    if dist.is_available() and dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return float(value)


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
    save_tokenizer(directory)
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
    if runtime.is_main:
        write_hf_checkpoint(tmp, backend.model, state)
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


class MetricsLog:
    """metrics.jsonl, cut back to the resumed step so re-run steps are not listed twice."""

    def __init__(self, path: Path, keep_through_step: int):
        self.path = path
        self.rows = [r for r in read_jsonl(path) if r["step"] <= keep_through_step] if path.exists() else []
        path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def append(self, row: dict) -> None:
        self.rows.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def peak_flops_per_device(cfg: RunConfig, runtime: Runtime) -> float | None:
    if cfg.peak_flops is not None:
        return cfg.peak_flops
    if runtime.device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(runtime.device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def plot_loss_curve(rows: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["tokens_seen"] for r in rows], [r["loss"] for r in rows], linewidth=1)
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
        "init_weights_sha256": None,  # set when the run starts: equal across runs that start identically
    }


def check_resumable(saved: dict, fresh: dict, checkpoint: Path) -> None:
    """The data position only means the same thing with the same shards and batch geometry."""
    for key in ("preset", "seq_len", "rows_per_step", "data_seed", "shards_manifest_sha256"):
        if saved[key] != fresh[key]:
            raise ValueError(f"cannot resume from {checkpoint}: {key} was {saved[key]!r}, the config gives {fresh[key]!r}")


def summarize(output_dir: Path, final_dir: Path, state: dict, rows: list[dict], plan: Plan, peak: float | None) -> dict:
    seconds = sum(r["step_seconds"] for r in rows)
    tokens_per_s = len(rows) * plan.tokens_per_step / seconds if seconds else None
    mfu = None
    if peak and tokens_per_s:
        mfu = tokens_per_s * flops_per_token(plan.preset, plan.seq_len) / (peak * plan.world_size)
    curve = plot_loss_curve(rows, output_dir / LOSS_CURVE_FILE, f"{state['preset']}, {plan.tokens_per_step:,} tokens/step")
    return {
        "final_loss": state["loss"],
        "steps": state["step"],
        "tokens_seen": state["tokens_seen"],
        "tokens_per_s": tokens_per_s,
        "mfu": mfu,
        "parameters": plan.preset.parameter_count(),
        "preset": state["preset"],
        "checkpoint_path": str(final_dir),
        "checkpoint_sha256": directory_sha256(final_dir),
        "shards_manifest_sha256": state["shards_manifest_sha256"],
        "init_weights_sha256": state.get("init_weights_sha256"),
        "init_from": state.get("init_from"),
        "seq_len": plan.seq_len,
        "tokens_per_step": plan.tokens_per_step,
        "grad_accum_steps": plan.grad_accum_steps,
        "world_size": plan.world_size,
        "metrics_path": str(output_dir / METRICS_FILE),
        "loss_curve_png": str(curve),
    }


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def log_nothing(message: str) -> None:
    """Progress sink for ranks other than 0, so a DeepSpeed run logs each line once."""


def train(cfg: RunConfig, log: Callable[[str], None] = log_to_stderr) -> dict:
    """Train to max_steps (resuming from output_dir when it holds a checkpoint); return the summary."""
    hf_logging.disable_progress_bar()  # per-checkpoint "Writing model shards" bars would drown the log
    runtime = resolve_runtime(cfg)
    log = log if runtime.is_main else log_nothing
    if cfg.deepspeed is not None and not runtime.use_deepspeed:
        log("deepspeed config ignored: no CUDA device")
    data = PackedSequences(cfg.shards_dir, cfg.seq_len)
    plan = make_plan(cfg, data.seq_len, runtime.world_size)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    state = new_state(cfg, plan, data)
    resume_from = latest_checkpoint(output_dir)
    if resume_from is not None:
        saved = json.loads((resume_from / STATE_FILE).read_text())
        check_resumable(saved, state, resume_from)
        state = {**saved, "max_steps": plan.max_steps}
    torch.manual_seed(cfg.seed)
    model = build_model(plan.preset, resume_from or cfg.init_from, runtime.attn_implementation).to(runtime.device)
    if resume_from is None:
        state["init_weights_sha256"] = weights_sha256(model)
    backend = (DeepSpeedBackend if runtime.use_deepspeed else TorchBackend)(model, cfg, plan, runtime)
    if resume_from is not None:
        backend.load_state(resume_from)
        log(f"resumed from {resume_from} at step {state['step']}, row {state['rows_seen']}")
    log(
        f"{cfg.preset}: {plan.preset.parameter_count():,} parameters, {plan.tokens_per_step:,} tokens/step "
        f"({plan.micro_batch_size} x {plan.grad_accum_steps} x {plan.world_size} rows of {plan.seq_len}), "
        f"{plan.max_steps} steps, {runtime.device}, {runtime.amp_dtype or torch.float32}, {runtime.attn_implementation}"
    )

    metrics = MetricsLog(output_dir / METRICS_FILE, state["step"]) if runtime.is_main else None
    peak = peak_flops_per_device(cfg, runtime)
    train_flops_per_token = flops_per_token(plan.preset, plan.seq_len)
    batches = data.batches(plan.rows_per_step, start_step=state["step"], seed=cfg.seed)
    saved_step = state["step"] if resume_from is not None else None
    model.train()
    for step in range(state["step"] + 1, plan.max_steps + 1):
        started = time.perf_counter()
        rows = next(batches)[runtime.rank * plan.rows_per_rank : (runtime.rank + 1) * plan.rows_per_rank]
        lr = backend.lr
        losses = [backend.micro_step(micro.to(runtime.device)) for micro in rows.split(plan.micro_batch_size)]
        grad_norm = backend.optimizer_step()
        loss = mean_across_ranks(torch.stack(losses).mean())
        seconds = time.perf_counter() - started
        state.update(
            step=step, loss=loss,
            rows_seen=state["rows_seen"] + plan.rows_per_step,
            tokens_seen=state["tokens_seen"] + plan.tokens_per_step,
        )
        tokens_per_s = plan.tokens_per_step / seconds
        mfu = tokens_per_s * train_flops_per_token / (peak * plan.world_size) if peak else None
        if metrics is not None:
            metrics.append(
                {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens_seen": state["tokens_seen"],
                 "tokens_per_s": tokens_per_s, "mfu": mfu, "step_seconds": seconds}
            )
        if step % cfg.log_every == 0 or step == plan.max_steps:
            log(f"step {step}/{plan.max_steps} loss {loss:.4f} lr {lr:.3g} {tokens_per_s:,.0f} tokens/s")
        if cfg.save_every and step % cfg.save_every == 0:
            save_checkpoint(output_dir, backend, state, runtime, cfg.keep_checkpoints)
            saved_step = step
    if saved_step != state["step"]:  # the end state stays resumable, e.g. to extend max_steps
        save_checkpoint(output_dir, backend, state, runtime, cfg.keep_checkpoints)
    if not runtime.is_main:
        return {}
    final_dir = write_final(output_dir, backend.model, state)
    return summarize(output_dir, final_dir, state, metrics.rows, plan, peak)


def pipes_metadata(summary: dict) -> dict:
    paths = ("checkpoint_path", "metrics_path", "loss_curve_png")
    return {key: {"raw_value": value, "type": "path"} if key in paths else value for key, value in summary.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Train a HARE model on packed token shards.")
    parser.add_argument("--run-config", required=True, help="path of run.json")
    # The DeepSpeed launcher passes --local_rank; the rank also comes from the environment.
    args, _ = parser.parse_known_args(argv)
    cfg = RunConfig.from_file(args.run_config)
    if int(os.environ.get("RANK", 0)) == 0 and PipesEnvVarParamsLoader().is_dagster_pipes_process():
        with open_dagster_pipes() as pipes:
            summary = train(cfg, log=pipes.log.info)
            pipes.report_asset_materialization(metadata=pipes_metadata(summary), data_version=summary["checkpoint_sha256"])
    else:
        summary = train(cfg)
    if summary:
        print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
