"""Pre-training loop for the HARE models (Mistral architecture, HF transformers).

    python -m model_training.train --run-config run.json
    deepspeed --num_gpus 8 --module model_training.train --run-config run.json   # with "deepspeed": {...}
    deepspeed --num_accelerators 2 --module model_training.train --run-config run.json   # CPU: 2 processes, gloo

run.json (defaults in ``model_training.run_config.RunConfig``)::

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
- ``functional_tokens``: n > 0 for the tool fine-tune: the functional tokens of n functions
  (``model_training.functional_tokens``) are added to the model it starts from (embeddings resized) and to the
  tokenizer saved with each checkpoint; train it on loss-masked shards (prompt masked, the call trained).
- Resumable: when ``output_dir`` holds a ``checkpoint-<step>/``, the run continues from the newest
  one with its weights, optimizer, schedule and data position, and rewrites ``metrics.jsonl`` from
  there. A larger ``max_steps`` continues a finished run.
- Outputs in ``output_dir``: ``checkpoint-<step>/`` (HF model + tokenizer + ``trainer_state.json`` +
  optimizer state), ``final/`` (the same without optimizer state), ``metrics.jsonl`` (one JSON row
  per step), ``loss_curve.png``. The summary dict (see ``metrics.summarize``) is printed as the last stdout
  line and, under Dagster Pipes, reported as the asset materialization with
  ``data_version = checkpoint_sha256``.
- ``dtype``: "auto" is bf16 autocast over fp32 weights on CUDA with bf16, else fp32; "bf16" or "fp32"
  force it. ``attn_implementation``: "auto" is flash_attention_2 when flash_attn is importable on
  CUDA with bf16, else sdpa.
- ``deepspeed``: a DeepSpeed config dict (``{"stage": 2}`` is short for
  ``{"zero_optimization": {"stage": 2}}``); batch sizes, clipping and bf16 are filled in from this
  config. On GPUs (NCCL) or CPU processes (gloo). ZeRO 0-2 ranks hold the full weights; under ZeRO-3
  every rank gathers them for each HF checkpoint rank 0 writes. Each rank trains on its slice of a
  step's rows, so a token_batch gives the same global batch whatever the number of ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
from transformers import AutoModelForCausalLM, MistralForCausalLM
from transformers.utils import logging as hf_logging

from model_training.checkpointing import (
    STATE_FILE,
    check_resumable,
    latest_checkpoint,
    new_state,
    save_checkpoint,
    weights_sha256,
    write_final,
)
from model_training.configs import ModelPreset, flops_per_token
from model_training.data import PackedSequences
from model_training.engines import DeepSpeedBackend, TorchBackend, mean_across_ranks
from model_training.functional_tokens import (
    add_functional_tokens,
    functional_token_names,
    functional_tokenizer,
)
from model_training.metrics import (
    METRICS_FILE,
    MetricsLog,
    peak_flops_per_device,
    summarize,
)
from model_training.run_config import RunConfig, make_plan, resolve_runtime


def build_model(preset: ModelPreset, weights_from: str | os.PathLike | None, attn_implementation: str,
                functional_tokens: int = 0) -> MistralForCausalLM:
    """fp32 weights, fresh from the preset or loaded from an HF checkpoint of the same shape. With
    `functional_tokens` (the tool fine-tune) the functional tokens' embedding rows are added where the weights
    lack them (stage 2's checkpoint), and kept where they have them (a resumed tool run)."""
    if weights_from is None:
        model = AutoModelForCausalLM.from_config(preset.to_mistral_config(), attn_implementation=attn_implementation)
    else:
        model = AutoModelForCausalLM.from_pretrained(weights_from, attn_implementation=attn_implementation)
        expected, found = preset.to_mistral_config(), model.config
        vocab = {expected.vocab_size, expected.vocab_size + (len(functional_token_names(functional_tokens))
                                                             if functional_tokens else 0)}
        if found.vocab_size not in vocab:
            raise ValueError(f"{weights_from}: vocab_size {found.vocab_size} does not match the preset's {sorted(vocab)}")
        for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"):
            if getattr(expected, key) != getattr(found, key):
                raise ValueError(f"{weights_from}: {key} {getattr(found, key)} does not match the preset's {getattr(expected, key)}")
    if functional_tokens:
        add_functional_tokens(functional_tokenizer(functional_tokens), model, functional_tokens)
    return model.float()  # DeepSpeed checkpoints are saved in bf16


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def log_nothing(message: str) -> None:
    """Progress sink for ranks other than 0, so a DeepSpeed run logs each line once."""


def train(cfg: RunConfig, log: Callable[[str], None] = log_to_stderr) -> dict:
    """Train to max_steps (resuming from output_dir when it holds a checkpoint); return the summary."""
    hf_logging.disable_progress_bar()  # per-checkpoint "Writing model shards" bars would drown the log
    runtime = resolve_runtime(cfg)
    log = log if runtime.is_main else log_nothing
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
    model = build_model(plan.preset, resume_from or cfg.init_from, runtime.attn_implementation,
                        cfg.functional_tokens).to(runtime.device)
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
    with backend.full_weights():
        final_dir = write_final(output_dir, backend.model, state) if runtime.is_main else None
    if not runtime.is_main:
        return {}
    return {**summarize(output_dir, final_dir, state, metrics.rows, plan, peak), "zero_stage": backend.zero_stage}


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
