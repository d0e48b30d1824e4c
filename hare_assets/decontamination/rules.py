"""The paper's decontamination rule for one document, as named steps (pure code: no Dagster).

1. `length_reason`: the part's length limits in tokens of the training tokenizer (D2 about 2k, D3 512).
2. `overlap_removed`: the n-gram repetition rate (`scoring.repetition_rates`) above the threshold
   (0.5): strictly greater, so a document at exactly half benchmark text is kept.
"""

from __future__ import annotations

TOO_SHORT, TOO_LONG, BENCHMARK_OVERLAP = "too_short", "too_long", "benchmark_overlap"


def length_reason(tokens: int, min_tokens: int, max_tokens: int) -> str | None:
    if tokens < min_tokens:
        return TOO_SHORT
    if tokens > max_tokens:
        return TOO_LONG
    return None


def overlap_removed(rate: float, max_rate: float) -> bool:
    return rate > max_rate


def removal_reason(tokens: int, rate: float, min_tokens: int, max_tokens: int, max_rate: float) -> str | None:
    """Why the document leaves the mix (the length limits are checked first), or None to keep it."""
    return length_reason(tokens, min_tokens, max_tokens) or (BENCHMARK_OVERLAP if overlap_removed(rate, max_rate)
                                                             else None)
