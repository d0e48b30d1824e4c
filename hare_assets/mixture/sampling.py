"""Weighted sampling of the decontaminated documents into one run's training mix (paper Figure 2b).

Pure code: no Dagster. `plan_mix` turns per-document token counts into a plan (which document, how
many times, in which order) and a report of targets against what was realized.

Targets
    part target   = token_budget * weight[part] / sum(weight[p] for p in the run's parts)
    d1 source     = d1 target * source_weight / sum(source_weight of the d1 sources)   (Table 3)
    Other parts are sampled as one pool each (their documents carry no per-source weight).

Sampling a pool (a part, or one d1 source) toward target T with A tokens available
    Documents are taken in a seeded shuffled order until the cumulated tokens reach T (the document
    that crosses T is included, so a pool overshoots by less than one document). When A < T the whole
    pool is taken floor(T / A) times (epochs 0, 1, ...; a fresh shuffle each time) and the remainder
    from one more shuffle: epochs = realized / A may be fractional, and a warning says so. A pool
    with A = 0 and T > 0 gets a warning and realizes 0 tokens; the other pools are NOT scaled up to
    fill the gap, so the run realizes less than its budget and its realized shares differ from the
    target shares (the report says so). Each pool's shuffle is seeded by (seed, pool name), so adding
    or resizing one part does not reshuffle the others.

Determinism
    Documents are sorted by id before anything else, so the plan depends only on (documents, weights,
    parts, budget, seed), not on the input row order. `order` is a seeded permutation of all plan rows
    (parts interleaved), the order in which the packer reads documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PER_SOURCE_PARTS = ("d1",)

PLAN_SCHEMA = pa.schema([("id", pa.string()), ("part", pa.string()), ("source", pa.string()),
                         ("epoch", pa.int32()), ("tokens", pa.int64()), ("order", pa.int64())])
REPORT_SCHEMA = pa.schema([
    ("level", pa.string()),          # "part" or "source" (a d1 source inside its part)
    ("part", pa.string()),
    ("source", pa.string()),         # null on part rows
    ("weight", pa.float64()),        # Figure 2b part weight, or the Table 3 source weight
    ("target_tokens", pa.int64()),
    ("target_share", pa.float64()),  # of the run's token budget
    ("available_tokens", pa.int64()),
    ("available_documents", pa.int64()),
    ("realized_tokens", pa.int64()),
    ("realized_share", pa.float64()),  # of the tokens the run actually realized
    ("documents", pa.int64()),       # plan rows (a document repeated over epochs counts each time)
    ("epochs", pa.float64()),        # realized / available (0 when nothing is available)
])


def _pool_seed(seed: int, *key: str) -> np.random.SeedSequence:
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF,
                                   *np.frombuffer(digest, np.uint32).tolist()])


def _as_arrow(docs: Any) -> pa.Table:
    if isinstance(docs, pa.Table):
        return docs
    if hasattr(docs, "to_arrow"):  # polars DataFrame
        return docs.to_arrow()
    raise TypeError(f"docs must be a pyarrow Table or a polars DataFrame, not {type(docs).__name__}")


def _sample_pool(rows: np.ndarray, tokens: np.ndarray, target: float, seed: np.random.SeedSequence,
                 max_epochs: float | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(row indices, epoch per pick, capped) for one pool; rows are indices into the sorted docs."""
    available = int(tokens[rows].sum()) if len(rows) else 0
    if target <= 0 or available <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), False
    rng = np.random.default_rng(seed)
    capped = max_epochs is not None and target > max_epochs * available
    if capped:
        target = max_epochs * available
    full = int(target // available)
    picks, epochs = [], []
    for e in range(full):
        picks.append(rng.permutation(rows))
        epochs.append(np.full(len(rows), e, np.int32))
    remainder = target - full * available
    if remainder > 0:
        perm = rng.permutation(rows)
        k = int(np.searchsorted(np.cumsum(tokens[perm]), remainder, side="left")) + 1
        picks.append(perm[:k])
        epochs.append(np.full(k, full, np.int32))
    return np.concatenate(picks), np.concatenate(epochs), capped


def plan_mix(docs: Any, weights: Mapping[str, float], parts: Sequence[str], token_budget: int, seed: int, *,
             source_weights: Mapping[str, float] | None = None,
             max_epochs: float | None = None) -> tuple[pa.Table, dict]:
    """Plan one run's mix: (plan table, report).

    docs: pyarrow Table or polars DataFrame with id, part, source, source_weight, tokens.
    weights: part -> weight (Figure 2b); only the run's `parts` count toward the normalization.
    source_weights: d1 source -> weight, to use instead of the `source_weight` column (it also names
        configured sources that have no documents, which then get a warning).
    max_epochs: optional cap on repetitions of a pool; a capped pool misses its target (warned).

    The plan has one row per (document, epoch): id, part, source, epoch, tokens, order, sorted by
    order. The report is {"rows": [... REPORT_SCHEMA dicts ...], "warnings": [...], "token_budget",
    "realized_tokens", "shares_match_targets", "note"}.
    """
    parts = list(dict.fromkeys(parts))
    if not parts:
        raise ValueError("a mix run needs at least one part")
    missing = [p for p in parts if p not in weights]
    if missing:
        raise ValueError(f"no mixture weight for parts {missing} (weights: {sorted(weights)})")
    if any(weights[p] < 0 for p in parts):
        raise ValueError("mixture weights must be >= 0")
    weight_sum = float(sum(weights[p] for p in parts))
    if weight_sum <= 0:
        raise ValueError(f"the weights of the run's parts {parts} sum to 0")
    if token_budget <= 0:
        raise ValueError("token_budget must be > 0")

    table = _as_arrow(docs).select(["id", "part", "source", "source_weight", "tokens"])
    table = table.filter(pc.is_in(table["part"], pa.array(parts, pa.string())))
    table = table.take(pc.sort_indices(table, [("id", "ascending"), ("part", "ascending"), ("source", "ascending")]))
    ids = table["id"].to_pylist()
    part_col = np.asarray(table["part"].to_pylist(), dtype=object)
    source_col = np.asarray(table["source"].to_pylist(), dtype=object)
    sw_col = table["source_weight"].cast(pa.float64()).to_numpy(zero_copy_only=False)
    tokens = np.nan_to_num(table["tokens"].cast(pa.float64()).to_numpy(zero_copy_only=False)).astype(np.int64)
    tokens = np.maximum(tokens, 0)

    warnings: list[str] = []
    short: list[str] = []  # pools that realized less than their target (empty or capped)
    rows: list[dict] = []
    picks: list[np.ndarray] = []
    pick_epochs: list[np.ndarray] = []

    def sample(kind: str, part: str, source: str | None, weight: float, target: float, members: np.ndarray) -> dict:
        available = int(tokens[members].sum()) if len(members) else 0
        key = (part,) if source is None else (part, source)
        chosen, epochs, capped = _sample_pool(members, tokens, target, _pool_seed(seed, *key), max_epochs)
        picks.append(chosen)
        pick_epochs.append(epochs)
        realized = int(tokens[chosen].sum())
        name = part if source is None else f"{part}/{source}"
        if (target > 0 and available == 0) or capped:
            short.append(name)
        if target > 0 and available == 0:
            warnings.append(f"{name}: no documents (0 tokens) for a target of {round(target):,} tokens; it gets 0 and "
                            f"the other pools are not rescaled, so the realized shares differ from the targets")
        elif target > available > 0:
            warnings.append(f"{name}: {available:,} tokens available for a target of {round(target):,}: repeated "
                            f"{realized / available:.2f} epochs" + (f" (capped at max_epochs={max_epochs})" if capped else ""))
        return {"level": kind, "part": part, "source": source, "weight": float(weight),
                "target_tokens": int(round(target)), "target_share": target / token_budget,
                "available_tokens": available, "available_documents": int(len(members)),
                "realized_tokens": realized, "realized_share": 0.0, "documents": int(len(chosen)),
                "epochs": realized / available if available else 0.0}

    for part in parts:
        target = token_budget * weights[part] / weight_sum
        in_part = np.flatnonzero(part_col == part)
        if part not in PER_SOURCE_PARTS:
            rows.append(sample("part", part, None, weights[part], target, in_part))
            continue
        # Per-source pools inside the part (Table 3 weights).
        present = sorted(set(source_col[in_part].tolist()))
        if source_weights is not None:
            src_w = {s: float(source_weights.get(s, 0.0)) for s in sorted(set(source_weights) | set(present))}
            unweighted = [s for s in present if s not in source_weights]
        else:
            src_w, unweighted = {}, []
            for s in present:
                w = sw_col[in_part[source_col[in_part] == s]]
                w = w[~np.isnan(w)]
                src_w[s] = float(w.max()) if len(w) else 0.0
                if not len(w):
                    unweighted.append(s)
                elif w.min() != w.max():
                    warnings.append(f"{part}/{s}: documents carry different source weights; using {w.max()}")
        if unweighted:
            warnings.append(f"{part}: sources without a weight get none of the part's target: {unweighted}")
        src_sum = sum(src_w.values())
        part_row_at = len(rows)
        rows.append({})  # the part row, filled once its sources are sampled
        source_rows = []
        if src_sum <= 0:
            if len(in_part):
                warnings.append(f"{part}: no source has a positive weight; sampled as one pool")
            part_row = sample("part", part, None, weights[part], target, in_part)
        else:
            for s, w in src_w.items():
                source_rows.append(sample("source", part, s, w, target * w / src_sum, in_part[source_col[in_part] == s]))
            available = int(tokens[in_part].sum())
            realized = sum(r["realized_tokens"] for r in source_rows)
            part_row = {"level": "part", "part": part, "source": None, "weight": float(weights[part]),
                        "target_tokens": int(round(target)), "target_share": target / token_budget,
                        "available_tokens": available, "available_documents": int(len(in_part)),
                        "realized_tokens": realized, "realized_share": 0.0,
                        "documents": sum(r["documents"] for r in source_rows),
                        "epochs": realized / available if available else 0.0}
            if target > 0 and available == 0:
                short.append(part)
                warnings.append(f"{part}: no documents (0 tokens) for a target of {round(target):,} tokens; it gets 0 "
                                f"and the other parts are not rescaled, so the realized shares differ from the targets")
        rows[part_row_at] = part_row
        rows.extend(source_rows)

    chosen = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    epochs = np.concatenate(pick_epochs) if pick_epochs else np.zeros(0, np.int32)
    realized_total = int(tokens[chosen].sum())
    for r in rows:
        r["realized_share"] = r["realized_tokens"] / realized_total if realized_total else 0.0
    order = np.random.default_rng(_pool_seed(seed, "\x00order")).permutation(len(chosen)).astype(np.int64)
    plan = pa.table({
        "id": pa.array([ids[i] for i in chosen.tolist()], pa.string()),
        "part": pa.array(part_col[chosen].tolist(), pa.string()),
        "source": pa.array(source_col[chosen].tolist(), pa.string()),
        "epoch": pa.array(epochs, pa.int32()),
        "tokens": pa.array(tokens[chosen], pa.int64()),
        "order": pa.array(order, pa.int64()),
    }, schema=PLAN_SCHEMA)
    plan = plan.take(pa.array(np.argsort(order, kind="stable")))

    shares_match = not short
    note = ("realized shares follow the targets (each pool overshoots by less than one document)" if shares_match else
            f"realized shares differ from the targets: {', '.join(short)} realized less than their target and the "
            f"other pools were not rescaled; the run realized {realized_total:,} of {token_budget:,} budgeted tokens")
    report = {"rows": rows, "warnings": warnings, "token_budget": int(token_budget),
              "realized_tokens": realized_total, "shares_match_targets": shares_match, "note": note}
    return plan, report


def report_table(report: dict) -> pa.Table:
    """The report rows as a table with a fixed schema."""
    return pa.Table.from_pylist(report["rows"], schema=REPORT_SCHEMA)


def mix_composition(plan: pa.Table) -> dict:
    """What a plan holds per part and per source: documents (plan rows) and tokens (without EOS), and
    each one's share of the plan's tokens. Goes into the shards' manifest as the source mix."""
    total = int(pc.sum(plan["tokens"]).as_py() or 0)

    def level(keys: list[str]) -> dict:
        grouped = plan.group_by(keys).aggregate([("tokens", "sum"), ("tokens", "count")]).to_pylist()
        out = {}
        for g in sorted(grouped, key=lambda r: tuple(str(r[k]) for k in keys)):
            out["/".join(str(g[k]) for k in keys)] = {
                "documents": int(g["tokens_count"]), "tokens": int(g["tokens_sum"]),
                "share": g["tokens_sum"] / total if total else 0.0}
        return out

    return {"tokens": total, "parts": level(["part"]), "sources": level(["part", "source"])}
