"""The paper's decontamination rule end to end on planted documents: length limits, then the n-gram
repetition rate against the benchmark index, removed when it exceeds 0.5 (hare_assets/decontamination)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hare_assets.core.overlap.hashing import normalize_tokens
from hare_assets.core.overlap.index import benchmark_ngram_rows, prepare_index
from hare_assets.core.overlap.rules import (
    BENCHMARK_OVERLAP,
    TOO_LONG,
    TOO_SHORT,
    removal,
)
from hare_assets.core.overlap.scoring import repetition_rates
from hare_assets.core.sample.fixtures import SEED, WRITERS
from hare_assets.core.settings import Decontamination

DEFAULTS = Decontamination()
MAX_RATE = DEFAULTS.max_repetition_rate
# A benchmark item longer than any planted segment (real GSM8K train item 0, an ARC-style item, prose).
ITEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May? Natalia sold 48/2 = 24 clips in May. "
        "Natalia sold 48+24 = 72 clips altogether in April and May. #### 72 "
        "Which of the following statements best explains why magnets usually stick to a refrigerator door? "
        "The refrigerator door is smooth. The refrigerator door contains iron. The refrigerator door is a good "
        "conductor. The refrigerator door has electric wires in it. "
        "The river delta formed over thousands of years as sediment carried from the mountains settled in the "
        "shallow bay, creating fertile marshland that early farmers drained for rice paddies and orchards.")
WINDOWS = 100  # n-gram windows per planted document, so a rate r means exactly 100 r matched windows
RATES = (0.2, 0.45, 0.55, 0.9)
ALL_N = sorted({n for spec in DEFAULTS.ngram.values() for n in
                (range(spec, spec + 1) if isinstance(spec, int) else range(spec[0], spec[1] + 1))})


@pytest.fixture(scope="module")
def index():
    table = benchmark_ngram_rows([("gsm8k", "train/0", ITEM)], ALL_N)
    return prepare_index({n: np.unique(table.filter(table["n"].to_numpy() == n)["hash"].to_numpy())
                          for n in ALL_N})



def removal_reason(tokens: int, rate: float, min_tokens: int, max_tokens: int, max_rate: float) -> str | None:
    why = removal(tokens, rate, min_tokens, max_tokens, max_rate)
    return why.reason if why else None

def planted(rate: float, n: int, seed: int = 0) -> str:
    """A document with exactly WINDOWS n-gram windows, round(rate * WINDOWS) of them benchmark n-grams:
    one contiguous run of the item's words inside filler words that occur in no benchmark."""
    words = normalize_tokens(ITEM)
    matched = round(rate * WINDOWS)
    run = matched + n - 1  # words whose windows all match
    filler = WINDOWS - matched  # then every window touching a filler word misses
    rng = random.Random(seed)
    start = rng.randrange(0, len(words) - run + 1)
    before = rng.randrange(0, filler + 1)
    fill = [f"filler{seed}x{i}" for i in range(filler)]
    return " ".join(fill[:before] + words[start:start + run] + fill[before:])


@pytest.mark.parametrize("n", ALL_N)
@pytest.mark.parametrize("rate", RATES)
def test_planted_rate_is_measured_exactly_and_removed_by_the_rule(index, rate, n):
    docs = [planted(rate, n, seed) for seed in range(3)]
    for r in repetition_rates(docs, index, n):
        assert (r.rate, r.n, r.total, r.matched) == (rate, n, WINDOWS, round(rate * WINDOWS))
        reason = removal_reason(0, r.rate, 0, 10**6, MAX_RATE)
        assert reason == (BENCHMARK_OVERLAP if rate > 0.5 else None)


@pytest.mark.parametrize("part", ["d2", "d3"])
@pytest.mark.parametrize("rate", RATES)
def test_planted_rate_under_the_parts_n_range(index, part, rate):
    """Planted at any N of the part's range, the range's rate is the max over the range (reached at
    its smallest N, where a run of benchmark words has the most windows) and the decision follows it."""
    lo, hi = DEFAULTS.ngram[part]
    for n in range(lo, hi + 1):
        matched = round(rate * WINDOWS)
        expected = (matched + n - lo) / (WINDOWS + n - lo)  # the same run of words counted at size lo
        [r] = repetition_rates([planted(rate, n)], index, (lo, hi))
        assert r.n == lo and r.rate == pytest.approx(expected, abs=1e-12)
        assert r.rate == max(repetition_rates([planted(rate, n)], index, k)[0].rate for k in range(lo, hi + 1))
        assert (removal_reason(0, r.rate, 0, 10**6, MAX_RATE) == BENCHMARK_OVERLAP) == (rate > 0.5)


def test_exactly_half_is_kept_and_length_limits_come_first():
    assert removal(100, 0.625, 0, 512, 0.5).detail == "repetition rate 0.6250 > 0.5"
    assert removal(513, 0.9, 0, 512, 0.5).detail == "513 tokens > 512"
    assert removal_reason(100, 0.5, 0, 512, 0.5) is None
    assert removal_reason(100, 0.5000001, 0, 512, 0.5) == BENCHMARK_OVERLAP
    assert removal_reason(513, 0.0, 0, 512, 0.5) == TOO_LONG
    assert removal_reason(513, 0.9, 0, 512, 0.5) == TOO_LONG  # the first step already removes it
    assert removal_reason(3, 0.9, 5, 512, 0.5) == TOO_SHORT


REPHRASED_GSM8K = (
    "In April, Natalia managed to sell clips to 48 friends, and in May her sales were half of that. "
    "Across those two months, what was the total number of clips she sold? In May she sold 24 clips, "
    "which is 48 divided by 2, so over both months she sold 72 clips in total. #### 72")


def test_a_rephrased_item_is_kept_for_every_part(index):
    copied = ITEM[:ITEM.index("#### 72") + 7]
    for part, spec in DEFAULTS.ngram.items():
        [reph, copy] = repetition_rates([REPHRASED_GSM8K, copied], index, spec)
        assert reph.rate <= 0.2 and removal_reason(0, reph.rate, 0, 10**6, MAX_RATE) is None, part
        assert copy.rate == 1.0 and removal_reason(0, copy.rate, 0, 10**6, MAX_RATE) == BENCHMARK_OVERLAP


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_rephrased_fixture_items_are_kept_at_d1_and_d2_sizes(name):
    """The project's leakage fixtures: every item rephrased (sentence structure changed, options
    reordered but not reworded) stays below the threshold at D1's 13 and D2's 10..15; its original is
    removed. (At D3's 4..8 the verbatim options alone can pass half the 4-grams: the rule then removes it.)"""
    _, original = WRITERS[name](random.Random(SEED), False)
    _, rephrased = WRITERS[name](random.Random(SEED), True)
    text = lambda it: "\n".join([it.context, *it.choices])  # noqa: E731
    table = benchmark_ngram_rows([(name, it.item_id, text(it)) for it in original], range(10, 16))
    index = {n: np.unique(table.filter(table["n"].to_numpy() == n)["hash"].to_numpy()) for n in range(10, 16)}
    for spec in (DEFAULTS.ngram["d1"], DEFAULTS.ngram["d2"]):
        for r in repetition_rates([text(it) for it in rephrased], index, spec):
            assert removal_reason(0, r.rate, 0, 10**6, MAX_RATE) is None
        for r in repetition_rates([text(it) for it in original], index, spec):
            assert removal_reason(0, r.rate, 0, 10**6, MAX_RATE) == BENCHMARK_OVERLAP


def test_contamination_report_per_part_and_benchmark():
    import json

    import pyarrow as pa

    from hare_assets.decontamination.assets import report_rows

    kept = pa.table({"mix_part": ["d1", "d1", "d1", "d2_open"], "benchmark": [None, "gsm8k", "mmlu", "gsm8k"],
                     "item_id": [None, "test/test:3", "test/a:1", "test/test:3"],
                     "repetition_rate": [0.0, 0.12, 0.41, 0.05]})
    removed = pa.table({"mix_part": ["d1", "d1", "d2_open"], "benchmark": ["gsm8k", None, "gsm8k"],
                        "item_id": ["test/test:3", None, "test/test:9"], "repetition_rate": [0.8, 0.0, 0.95],
                        "reason": [BENCHMARK_OVERLAP, TOO_LONG, BENCHMARK_OVERLAP]})
    rows = {(r["part"], r["benchmark"]): r for r in report_rows(kept, removed, ["gsm8k", "mmlu", "hellaswag"])}
    assert len(rows) == 6  # 2 parts x 3 benchmarks, including the ones nothing matched
    d1 = rows[("d1", "gsm8k")]
    assert (d1["documents_checked"], d1["with_overlap"], d1["removed"]) == (5, 2, 1)
    assert d1["removed_share"] == 0.2 and d1["max_rate"] == 0.8
    assert json.loads(d1["rate_histogram"]) == [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    assert json.loads(d1["top_items"]) == [["test/test:3", 2, 1]]
    assert (rows[("d1", "mmlu")]["with_overlap"], rows[("d1", "mmlu")]["removed"]) == (1, 0)
    assert rows[("d1", "hellaswag")]["with_overlap"] == 0 and rows[("d1", "hellaswag")]["max_rate"] == 0.0
    d2 = rows[("d2_open", "gsm8k")]
    assert (d2["documents_checked"], d2["with_overlap"], d2["removed"]) == (2, 2, 1)
    assert json.loads(d2["top_items"]) == [["test/test:3", 1, 0], ["test/test:9", 1, 1]]


def test_contamination_report_when_nothing_was_removed_for_overlap():
    """A clean corpus (no overlap removals, or no removals at all) still gets its report rows."""
    import pyarrow as pa

    from hare_assets.decontamination.assets import report_rows

    kept = pa.table({"mix_part": ["d1", "d1"], "benchmark": [None, "gsm8k"], "item_id": [None, "test/test:3"],
                     "repetition_rate": [0.0, 0.1]})
    only_length = pa.table({"mix_part": ["d1"], "benchmark": pa.array([None], pa.string()),
                            "item_id": pa.array([None], pa.string()), "repetition_rate": [0.0], "reason": [TOO_LONG]})
    none = only_length.slice(0, 0)
    for removed in (only_length, none):
        rows = {r["benchmark"]: r for r in report_rows(kept, removed, ["gsm8k", "mmlu"])}
        assert rows["gsm8k"]["documents_checked"] == kept.num_rows + removed.num_rows
        assert (rows["gsm8k"]["with_overlap"], rows["gsm8k"]["removed"]) == (1, 0)
        assert (rows["mmlu"]["with_overlap"], rows["mmlu"]["removed"]) == (0, 0)
