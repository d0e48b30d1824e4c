"""Rephrased benchmark items for the leakage delta (Xu et al. 2024, arXiv 2404.18824).

Their D' keeps each item's meaning and answer but changes the surface form: the question's sentence
structure is rewritten by an LLM and the answer options are reordered. Here the rewrite goes through
the synthesis stage's generation backend (one prompt per question, request-cached, so a second run
sends nothing) and the reordering is a deterministic rotation, so the gold answer stays known.

    prompts = [rephrase_prompt(item) for item in items]       # -> the backend
    twin = rephrased_item(item, generated_text, index=i)      # a BenchmarkItem, same id and split

Pure code: no dagster.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from hare_assets.core.benchmarks import BenchmarkItem

REPHRASE_TEMPLATE = (
    "Rewrite the following text so that it keeps exactly the same meaning and every fact, number and name, "
    "but uses a different sentence structure and different wording. Reply with the rewritten text only.\n\n"
    "Text: {question}\n\nRewritten text:"
)
TEMPLATE_SHA256 = hashlib.sha256(REPHRASE_TEMPLATE.encode()).hexdigest()


def rephrase_prompt(item: BenchmarkItem) -> str:
    return REPHRASE_TEMPLATE.format(question=item.context.strip())


def clean_generation(text: str) -> str:
    """The first paragraph of the reply: models often continue past the rewrite."""
    return text.strip().split("\n\n", 1)[0].strip()


def reorder_options(choices: tuple[str, ...], gold: int, index: int) -> tuple[tuple[str, ...], int]:
    """Rotate the options by 1 + index % (len - 1) places (never 0), so the gold option always moves."""
    k = len(choices)
    if k < 2:
        return choices, gold
    shift = 1 + index % (k - 1)
    rotated = tuple(choices[(j + shift) % k] for j in range(k))
    return rotated, (gold - shift) % k if gold >= 0 else gold


def rephrased_item(item: BenchmarkItem, generated: str, index: int) -> BenchmarkItem:
    """The rephrased twin: same id, split and answer. An empty rewrite keeps the original wording
    (the options are still reordered); the asset counts how many questions were reworded."""
    question = clean_generation(generated) or item.context
    choices, gold = reorder_options(item.choices, item.gold, index)
    return replace(item, context=question, choices=choices, gold=gold)
