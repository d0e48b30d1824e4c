"""How one optimizer step runs: ``TorchBackend`` (one process) or ``DeepSpeedBackend`` (ZeRO 0-2 across
ranks), both with AdamW and the warmup + cosine schedule; the loss, and the collectives the loop needs
(``barrier``, ``mean_across_ranks``)."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from model_training.run_config import Plan, RunConfig, Runtime

OPTIMIZER_FILE = "optimizer.pt"


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to min_ratio at total_steps (step counts from 0)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


IGNORE_INDEX = -100  # torch's cross_entropy default: a label that does not count


def causal_lm_loss(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy of rows (batch, seq_len + 1): inputs row[:-1], labels row[1:].

    Rows (batch, 2, seq_len + 1) carry a loss mask in [:, 1]: the mean is then over the labels whose
    mask is 1 (a fine-tune's assistant tokens), the others are ignored.
    """
    ids, mask = (rows[:, 0], rows[:, 1]) if rows.ndim == 3 else (rows, None)
    logits = model(input_ids=ids[:, :-1], use_cache=False).logits
    labels = ids[:, 1:] if mask is None else ids[:, 1:].masked_fill(mask[:, 1:] == 0, IGNORE_INDEX)
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


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
