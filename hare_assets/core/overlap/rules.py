"""The paper's decontamination rule for one document, as named steps (pure code: no Dagster).

1. `length_rejection`: the part's length limits in tokens of the training tokenizer (D2 about 2k, D3 512).
2. `overlap_removed`: the n-gram repetition rate (`scoring.repetition_rates`) above the threshold
   (0.5): strictly greater, so a document at exactly half benchmark text is kept.
"""

from __future__ import annotations

from hare_assets.core.rejection import Rejection

TOO_SHORT, TOO_LONG, BENCHMARK_OVERLAP = "too_short", "too_long", "benchmark_overlap"


def length_rejection(tokens: int, min_tokens: int, max_tokens: int) -> Rejection | None:
    if tokens < min_tokens:
        return Rejection(TOO_SHORT, f"{tokens} tokens < {min_tokens}")
    if tokens > max_tokens:
        return Rejection(TOO_LONG, f"{tokens} tokens > {max_tokens}")
    return None


def overlap_removed(rate: float, max_rate: float) -> bool:
    return rate > max_rate


def removal(tokens: int, rate: float, min_tokens: int, max_tokens: int, max_rate: float) -> Rejection | None:
    """Why the document leaves the mix (the length limits are checked first), or None to keep it."""
    if (too := length_rejection(tokens, min_tokens, max_tokens)) is not None:
        return too
    if overlap_removed(rate, max_rate):
        return Rejection(BENCHMARK_OVERLAP, f"repetition rate {rate:.4f} > {max_rate}")
    return None
