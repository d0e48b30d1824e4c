"""Which benchmark items are scored and how (Open LLM Leaderboard v1 metrics where the scorer has them)."""

from __future__ import annotations

from dataclasses import dataclass

from ..decontamination.benchmarks import BenchmarkItem

EVAL_SPLITS = ("test", "validation", "val", "dev")
SHOT_SPLITS = ("train", "dev", "validation", "val")
# v1 leaderboard metric per benchmark, as this scorer computes it.
METRIC = {"arc_challenge": "acc_norm", "hellaswag": "acc_norm", "truthfulqa": "acc", "mmlu": "acc",
          "winogrande": "acc", "gsm8k": "exact_match"}


@dataclass
class EvalSet:
    benchmark: str
    split: str
    items: list[BenchmarkItem]
    shots: list[BenchmarkItem]


def pick_split(items: list[BenchmarkItem], order: tuple[str, ...], exclude: str | None = None) -> str | None:
    splits = {i.split for i in items} - {exclude}
    return next((s for s in order if s in splits), None)


def eval_set(benchmark: str, items: list[BenchmarkItem], k_shot: int, max_items: int) -> EvalSet:
    split = pick_split(items, EVAL_SPLITS) or sorted({i.split for i in items})[0]
    chosen = [i for i in items if i.split == split][:max_items]
    shot_split = pick_split(items, SHOT_SPLITS, exclude=split)
    shots = [i for i in items if i.split == shot_split][:k_shot] if shot_split and k_shot else []
    return EvalSet(benchmark, split, chosen, shots)


def as_choice_item(item: BenchmarkItem) -> dict:
    if item.benchmark == "winogrande":  # whole sentences with each option filled in
        return {"context": "", "choices": [item.context.replace("_", c, 1) for c in item.choices], "gold": item.gold}
    return {"context": item.context, "choices": list(item.choices), "gold": item.gold}


def few_shot_prefix(shots: list[BenchmarkItem]) -> str:
    return "".join(f"{s.context} {s.answer}\n\n" for s in shots)
