"""Checkpoint loading and the benbench n-gram accuracy, pure functions of (model, tokenizer, texts).

    from model_training.evaluate import load_checkpoint, ngram_accuracy
    model, tok = load_checkpoint("runs/stage2/final")
    ngram_accuracy(model, tok, ["benchmark sample text ..."], n=5, starts=5)
    # -> {"accuracy": ..., "per_text": [...], "pairs": ..., "skipped": ...}

The leaderboard scores themselves come from lm-eval (hare_assets/evaluation/harness.py), which loads
the same checkpoints with its own `hf` model. Generation is batched with left padding, so a batch
gives the same tokens as one sequence at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)


def load_checkpoint(path: str | os.PathLike, device: str = "cpu", dtype: torch.dtype | None = None):
    """(model, tokenizer) from an HF checkpoint directory; the model in eval mode on ``device``."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    model.to(device=device, dtype=dtype).eval()
    return model, tokenizer


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def _left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device):
    """input_ids, attention_mask and position_ids for left-padded sequences."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        attention_mask[row, width - len(seq) :] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids.to(device), attention_mask.to(device), position_ids.to(device)


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterable[list[int]]:
    """Indices in batches of similar length (longest first), so padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _max_length(model: PreTrainedModel) -> int:
    return model.config.max_position_embeddings


@torch.inference_mode()
def greedy_generate(
    model: PreTrainedModel, prompts: Sequence[list[int]], max_new_tokens: int, eos_id: int, batch_size: int = 16
) -> list[list[int]]:
    """Greedy continuations (token ids, at most max_new_tokens, cut at eos) of prompt id lists."""
    device = next(model.parameters()).device
    limit = _max_length(model) - max_new_tokens
    prompts = [p[-limit:] for p in prompts]
    outputs: list[list[int]] = [[] for _ in prompts]
    for batch in _length_sorted_batches([len(p) for p in prompts], batch_size):
        input_ids, attention_mask, _ = _left_pad([prompts[i] for i in batch], eos_id, device)
        generated = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
            do_sample=False, num_beams=1, eos_token_id=eos_id, pad_token_id=eos_id,
        )[:, input_ids.shape[1] :].tolist()
        for row, i in enumerate(batch):
            tokens = generated[row]
            if eos_id in tokens:
                tokens = tokens[: tokens.index(eos_id)]
            outputs[i] = tokens
    return outputs


def ngram_starts(length: int, n: int, starts: int, max_length: int) -> list[int]:
    """benbench's starting points: evenly spaced from token 2 to the last full n-gram."""
    return [int(s) for s in np.linspace(2, min(length, max_length) - n, num=starts, endpoint=True, dtype=int)]


def ngram_accuracy_tokens(
    model: PreTrainedModel,
    token_lists: Sequence[Sequence[int]],
    bos_id: int,
    eos_id: int,
    n: int = 5,
    starts: int = 5,
    batch_size: int = 32,
) -> dict:
    """benbench n-gram accuracy (Xu et al. 2024, arXiv 2404.18824) on tokenized samples.

    At ``starts`` evenly spaced points of each sample the model sees bos + the tokens before the
    point and greedily generates n tokens; a point is correct when all n equal the sample's next n
    tokens. A sample's accuracy is its share of correct points; the result is the mean over samples.
    Samples with no room for an n-gram (benbench: tokens - n - 1 <= 0) are skipped and counted.
    Returns {"accuracy", "stderr" (of the mean over samples; None under two), "per_text" (None where
    skipped), "scored", "pairs", "skipped"}.
    """
    max_length = _max_length(model)
    prompts, targets, owners = [], [], []
    per_text: list[float | None] = [None] * len(token_lists)
    for index, tokens in enumerate(token_lists):
        tokens = list(tokens)
        if len(tokens) - n - 1 <= 0:
            continue
        for start in ngram_starts(len(tokens), n, starts, max_length):
            prompts.append([bos_id, *tokens[:start]])
            targets.append(tokens[start : start + n])
            owners.append(index)
    # An eos before n tokens ends that generation short: a wrong n-gram, as in benbench.
    generations = greedy_generate(model, prompts, n, eos_id, batch_size) if prompts else []
    correct = np.array([g == t for g, t in zip(generations, targets)], dtype=float)
    owners_array = np.array(owners, dtype=int)
    for index in set(owners):
        per_text[index] = float(correct[owners_array == index].mean())
    scored = [v for v in per_text if v is not None]
    return {
        "accuracy": float(np.mean(scored)) if scored else None,
        "stderr": float(np.std(scored, ddof=1) / np.sqrt(len(scored))) if len(scored) > 1 else None,
        "per_text": per_text,
        "scored": len(scored),
        "pairs": len(correct),
        "skipped": len(per_text) - len(scored),
    }


def ngram_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    n: int = 5,
    starts: int = 5,
    batch_size: int = 32,
) -> dict:
    """`ngram_accuracy_tokens` on texts, tokenized without special tokens."""
    return ngram_accuracy_tokens(model, [_encode(tokenizer, t) for t in texts], tokenizer.bos_token_id,
                                 tokenizer.eos_token_id, n, starts, batch_size)


def leakage_delta(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    original: Sequence[str],
    rephrased: Sequence[str],
    n: int = 5,
    starts: int = 5,
) -> dict | None:
    """n-gram accuracy on the original (D) and rephrased (D') samples and delta = D - D', the sign
    convention of the HARE paper's Table 6: > 0 the model reproduces the original wording better
    (leakage suspected), < 0 it does better on the rephrased set. `delta_stderr` treats the two sets as
    independent samples (None when either has fewer than two scored). None when either set has no
    sample long enough for an n-gram."""
    d = ngram_accuracy(model, tokenizer, original, n, starts)
    d_rephrased = ngram_accuracy(model, tokenizer, rephrased, n, starts)
    if d["accuracy"] is None or d_rephrased["accuracy"] is None:
        return None
    both = d["stderr"] is not None and d_rephrased["stderr"] is not None
    return {"original": d["accuracy"], "rephrased": d_rephrased["accuracy"],
            "delta": d["accuracy"] - d_rephrased["accuracy"],
            "delta_stderr": float(np.hypot(d["stderr"], d_rephrased["stderr"])) if both else None,
            "scored_original": d["scored"], "scored_rephrased": d_rephrased["scored"]}
