"""What a run reports: ``metrics.jsonl`` (one row per step), the loss curve, MFU against the device's
peak FLOP/s, and the summary dict the CLI prints and reports to Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model_training.configs import flops_per_token
from model_training.hashing import directory_sha256
from model_training.run_config import Plan, RunConfig, Runtime

METRICS_FILE = "metrics.jsonl"
LOSS_CURVE_FILE = "loss_curve.png"

# Dense bf16 peak FLOP/s per device, for MFU when run.json gives no peak_flops.
PEAK_BF16_FLOPS = {"H100": 989e12, "H800": 989e12, "H200": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12}


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
