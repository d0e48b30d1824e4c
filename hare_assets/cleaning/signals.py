"""Scores once, thresholds after: D1's per-document signal tables and the filter over them (pure code).

* `score_table` runs the edit rules, measures every rule signal and the language score
  (`rules.score_batch`), and computes the exact-dedup text hash and the MinHash LSH band keys of
  the edited text, for one Arrow batch of raw documents. Nothing in it reads a threshold.
* `score_batches` does that for a stream of batches, in-process, in a pool of processes or as Ray
  tasks (the config's `compute`), with a bounded number of batches in flight.
* `filter_signals` applies the configured thresholds to stored signals: kept rows (with the
  source's Table 3 weight) and rejected rows (with the failing rule and the signals as detail).
* `scoring_fingerprint` / `filter_fingerprint`: hashes of the config keys each half depends on, so
  a changed threshold marks only the filter as changed (its Dagster code version).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hare_assets.cleaning.rules import (
    SIGNAL_NAMES,
    failing_rule,
    rule_set_for,
    score_batch,
)
from hare_assets.core.compute import available_cores, map_batches
from hare_assets.core.lake import ParquetSink
from hare_assets.core.minhash import band_keys, lsh_params, sketch
from hare_assets.core.rejection import Rejection
from hare_assets.core.schemas import (
    CLEANED_SCHEMA,
    DOCUMENT_SCHEMA,
    REJECTION_FIELDS,
    REJECTION_SCHEMA,
)
from hare_assets.core.settings import Cleaning, Compute, Dedup, Settings

SIGNAL_TYPES = {
    "scored": pa.bool_(), "chars": pa.int64(), "words": pa.int64(), "non_alpha_fraction": pa.float64(),
    "duplicate_line_fraction": pa.float64(), "duplicate_paragraph_fraction": pa.float64(),
    "boilerplate_fraction": pa.float64(), "terminal_punctuation": pa.bool_(), "language": pa.string(),
    "language_score": pa.float64(),
}
# The edited document, what the edit rules changed, its exact-dedup hash and its signals.
SIGNALS_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("edits", pa.string()), ("text_hash", pa.int64()),
                            *SIGNAL_TYPES.items()])
BAND_SCHEMA = pa.schema([("id", pa.string()), ("band", pa.int16()), ("key", pa.int64())])


def band_key_sink(dest: Path) -> ParquetSink:
    """The lake folder of band keys: one row group per (batch, band), so a dedup task that filters on
    its band reads only that band's row groups (DuckDB skips the rest by their statistics)."""
    return ParquetSink(dest, BAND_SCHEMA, row_groups_by="band")


# Which config keys shape the signals, which only the filter, and which change neither (how fast).
SCORING_KEYS = {"cleaning": ("code_categories", "math_categories", "max_scored_chars"),
                "dedup": ("shingle_words", "num_perm", "jaccard_threshold", "seed")}
FILTER_KEYS = ("min_words", "max_words", "max_non_alpha_fraction", "max_duplicate_line_fraction",
               "max_duplicate_paragraph_fraction", "max_boilerplate_fraction", "require_terminal_punctuation", "language", "language_threshold", "code_categories",
               "math_categories")
EXECUTION_KEYS = ("workers", "parallel_min_rows")


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=list).encode()).hexdigest()[:12]


def scoring_fingerprint(settings: Settings) -> str:
    return _digest({section: {k: getattr(getattr(settings, section), k) for k in keys}
                    for section, keys in SCORING_KEYS.items()})


def filter_fingerprint(settings: Settings) -> str:
    """Thresholds, rule-set switches and the D1 sources' weights (the filter writes them)."""
    return _digest({"cleaning": {k: getattr(settings.cleaning, k) for k in FILTER_KEYS},
                    "weights": {s.name: s.weight for s in settings.d1_sources}})


# ---------------------------------------------------------------------------------------------------
# scoring


def score_table(batch: pa.Table | pa.RecordBatch, cleaning: Cleaning, dedup: Dedup) -> tuple[pa.Table, pa.Table, dict]:
    """(signals rows, band-key rows, stats) for one batch of documents (DOCUMENT_SCHEMA columns)."""
    t0 = time.perf_counter()
    n = batch.num_rows
    scored = score_batch(batch.column("text").to_pylist(), batch.column("category").to_pylist(), cleaning)
    t1 = time.perf_counter()
    bands, rows = lsh_params(dedup.jaccard_threshold, dedup.num_perm)
    # An unscored (oversized) document is rejected whatever the thresholds: no need to hash it.
    texts = [s.text if s.signals["scored"] else "" for s in scored]
    hashes, sigs = sketch(texts, dedup.shingle_words, dedup.num_perm, dedup.seed)
    keys = band_keys(sigs, bands, rows)
    t2 = time.perf_counter()
    edits: Counter[str] = Counter()
    for s in scored:
        edits.update(s.edits)
    columns = {c: batch.column(c) for c in ("id", "source", "category", "part")}
    signals = pa.table({
        **columns,
        "text": pa.array([s.text for s in scored], pa.string()),
        "meta": batch.column("meta"),
        "edits": pa.array([json.dumps(s.edits, sort_keys=True) if s.edits else "{}" for s in scored], pa.string()),
        "text_hash": pa.array(hashes, pa.int64()),
        **{name: pa.array([s.signals[name] for s in scored], typ) for name, typ in SIGNAL_TYPES.items()},
    }, schema=SIGNALS_SCHEMA)
    # Band-major, so the sink can store one row group per band and each dedup task reads only its band.
    band_rows = pa.table({
        "id": pc.take(batch.column("id"), pa.array(np.tile(np.arange(n), bands))),
        "band": pa.array(np.repeat(np.arange(bands, dtype=np.int16), n)),
        "key": pa.array(keys.T.reshape(-1)),
    }, schema=BAND_SCHEMA)
    stats = {"rows": n, "rules_s": t1 - t0, "sketch_s": t2 - t1, "edits": dict(edits)}
    return signals, band_rows, stats


def scoring_workers(cleaning: Cleaning, rows: int) -> int:
    """Processes for a partition of `rows` documents: one below `parallel_min_rows` (start-up
    would cost more than it saves), else `workers` (0 = one per available core)."""
    if rows < cleaning.parallel_min_rows:
        return 1
    return max(1, cleaning.workers or available_cores())


def score_batches(batches: Iterable[pa.RecordBatch], cleaning: Cleaning, dedup: Dedup, workers: int = 1,
                  compute: Compute = Compute()) -> Iterator[tuple[pa.Table, pa.Table, dict]]:
    """`score_table` over a stream of batches, in input order: in this process, a pool of `workers`
    processes, or Ray tasks (`compute`), with a bounded number of batches in flight, so memory
    stays bounded however long the partition is (core.compute.map_batches)."""
    return map_batches(compute, score_table, batches, processes=workers, shared={"cleaning": cleaning, "dedup": dedup})


# ---------------------------------------------------------------------------------------------------
# filtering


def filter_signals(signals: pa.Table, cleaning: Cleaning, source_weight: float) -> tuple[pa.Table, pa.Table, Counter]:
    """(kept rows in CLEANED_SCHEMA, rejected rows in REJECTION_SCHEMA, rejections by rule) for a
    table of stored signals: thresholds applied, nothing recomputed."""
    rule_sets: dict[str | None, tuple[str, ...]] = {}
    values = signals.select(["category", *SIGNAL_NAMES]).to_pylist()
    reasons = []
    for row in values:
        category = row["category"]
        rules = rule_sets.get(category) or rule_sets.setdefault(category, rule_set_for(category, cleaning))
        reasons.append(failing_rule(row, rules, cleaning))
    keep = pa.array([r is None for r in reasons], pa.bool_())
    kept = signals.filter(keep)
    kept = pa.table({**{c: kept.column(c) for c in DOCUMENT_SCHEMA.names},
                     "source_weight": pa.array([source_weight] * kept.num_rows, pa.float64()),
                     "text_hash": kept.column("text_hash")}, schema=CLEANED_SCHEMA)
    dropped = [i for i, r in enumerate(reasons) if r is not None]
    why = [Rejection(reasons[i], signal_detail(values[i])).columns("cleaning") for i in dropped]
    rejected = signals.take(pa.array(dropped, pa.int64()))
    rejected = pa.table({
        **{c: rejected.column(c) for c in DOCUMENT_SCHEMA.names},
        **{c: pa.array([w[c] for w in why], typ) for c, typ in REJECTION_FIELDS},
    }, schema=REJECTION_SCHEMA)
    return kept, rejected, Counter(r for r in reasons if r is not None)


def signal_detail(row: Mapping) -> str:
    """The signals of a rejected document as JSON (why it failed, to the reader of d1_rejections)."""
    return json.dumps({k: row[k] for k in SIGNAL_NAMES if row[k] is not None}, sort_keys=True)
