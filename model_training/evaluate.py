"""Checkpoint scoring used by the platform's evaluation stage: pure functions of (model, tokenizer, items).

    from model_training.evaluate import load_checkpoint, multiple_choice_accuracy, greedy_exact_match, ngram_accuracy
    model, tok = load_checkpoint("runs/stage2/final")
    multiple_choice_accuracy(model, tok, [{"context": "Question: 2+2?\\nAnswer:", "choices": [" 3", " 4"], "gold": 1}])
    # -> {"acc": 1.0, "acc_norm": 1.0, "n": 1}
    greedy_exact_match(model, tok, [{"question": "...", "answer": "... #### 18"}], max_new_tokens=256)
    # -> {"exact_match": ..., "n": ..., "predictions": [...]}
    ngram_accuracy(model, tok, ["benchmark sample text ..."], n=5, starts=5)
    # -> {"accuracy": ..., "per_text": [...], "pairs": ..., "skipped": ...}

Conventions follow lm-evaluation-harness (Open LLM Leaderboard v1) where they apply: a choice is
scored by the summed log-likelihood of its tokens after the context, trailing spaces of the context
move into the continuation, ``acc_norm`` divides by the choice's length in characters. Every
sequence starts with bos. Work is batched with left padding (explicit position ids), so a batch
gives the same numbers as one sequence at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


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
def continuation_logliks(
    model: PreTrainedModel, requests: Sequence[tuple[list[int], list[int]]], batch_size: int = 16
) -> list[float]:
    """Summed log p(continuation | context) per (context ids, continuation ids) pair."""
    device = next(model.parameters()).device
    limit = _max_length(model) + 1  # the last token is only a label
    sequences = [(ctx + cont)[-limit:] for ctx, cont in requests]
    scores = [0.0] * len(requests)
    for batch in _length_sorted_batches([len(s) for s in sequences], batch_size):
        inputs = [sequences[i][:-1] for i in batch]
        input_ids, attention_mask, position_ids = _left_pad(inputs, 0, device)
        keep = max(1, *(len(requests[i][1]) for i in batch))  # 0 would mean all positions
        logits = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, logits_to_keep=keep
        ).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(batch):
            cont = torch.tensor(requests[i][1], device=device)
            picked = logprobs[row, keep - len(cont) :].gather(-1, cont[:, None])
            scores[i] = float(picked.sum())
    return scores


def _split_context(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's pair encoding: tokenize context + continuation together, the continuation is
    what follows the context's own tokens; trailing context spaces belong to the continuation."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = _encode(tokenizer, context + continuation)
    context_ids = _encode(tokenizer, context)
    return [tokenizer.bos_token_id, *context_ids], whole[len(context_ids) :]


def few_shot_prefix(few_shot: Sequence[dict]) -> str:
    """Solved examples, each its context + gold choice, separated by blank lines."""
    return "".join(f"{ex['context']}{ex['choices'][ex['gold']]}\n\n" for ex in few_shot)


def multiple_choice_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict],
    few_shot: Sequence[dict] = (),
    batch_size: int = 16,
) -> dict:
    """acc / acc_norm over items {"context": str, "choices": [str], "gold": int}.

    A choice is the exact continuation text (include its leading space, as in "Answer: 4").
    """
    prefix = few_shot_prefix(few_shot)
    requests = [
        _split_context(tokenizer, prefix + item["context"], choice) for item in items for choice in item["choices"]
    ]
    scores = continuation_logliks(model, requests, batch_size)
    hits, norm_hits, position = 0, 0, 0
    for item in items:
        choice_scores = np.array(scores[position : position + len(item["choices"])])
        position += len(item["choices"])
        lengths = np.array([max(1, len(c)) for c in item["choices"]])
        hits += int(np.argmax(choice_scores)) == item["gold"]
        norm_hits += int(np.argmax(choice_scores / lengths)) == item["gold"]
    n = len(items)
    return {"acc": hits / n if n else None, "acc_norm": norm_hits / n if n else None, "n": n}


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


NUMBER_RE = re.compile(r"-?[\d,]*\.?\d+")
GSM8K_STOPS = ("\n\n", "Question:")


def extract_number(text: str) -> str | None:
    """The first number after "####" if present, else the last number in the text, without commas."""
    if "####" in text:
        numbers = NUMBER_RE.findall(text.split("####", 1)[1])[:1]
    else:
        numbers = NUMBER_RE.findall(text)[-1:]
    return numbers[0].replace(",", "") if numbers else None


def _same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def gsm8k_prompt(question: str, few_shot: Sequence[dict] = ()) -> str:
    shots = "".join(f"Question: {ex['question']}\nAnswer: {ex['answer']}\n\n" for ex in few_shot)
    return f"{shots}Question: {question}\nAnswer:"


def greedy_exact_match(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict],
    max_new_tokens: int = 256,
    few_shot: Sequence[dict] = (),
    batch_size: int = 16,
) -> dict:
    """GSM8K-style exact match over items {"question", "answer"}: greedy answer, cut at the first
    blank line or "Question:", final number compared with the gold answer's "####" number."""
    prompts = [[tokenizer.bos_token_id, *_encode(tokenizer, gsm8k_prompt(item["question"], few_shot))] for item in items]
    generations = greedy_generate(model, prompts, max_new_tokens, tokenizer.eos_token_id, batch_size)
    predictions, hits = [], 0
    for item, tokens in zip(items, generations):
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in GSM8K_STOPS:
            text = text.split(stop, 1)[0]
        predicted = extract_number(text)
        predictions.append(predicted)
        hits += _same_number(predicted, extract_number(item["answer"]))
    n = len(items)
    return {"exact_match": hits / n if n else None, "n": n, "predictions": predictions}


def ngram_starts(length: int, n: int, starts: int, max_length: int) -> list[int]:
    """benbench's starting points: evenly spaced from token 2 to the last full n-gram."""
    return [int(s) for s in np.linspace(2, min(length, max_length) - n, num=starts, endpoint=True, dtype=int)]


def ngram_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    n: int = 5,
    starts: int = 5,
    batch_size: int = 32,
) -> dict:
    """benbench n-gram accuracy (Xu et al. 2024, arXiv 2404.18824).

    Each text is tokenized; at ``starts`` evenly spaced points the model sees bos + the tokens before
    the point and greedily generates n tokens; a point counts as correct when all n equal the text's
    next n tokens. Texts with no room for an n-gram (benbench: tokens - n - 1 <= 0) are skipped and
    counted. Returns the mean over all (text, point) pairs and each text's accuracy (None if skipped).
    """
    max_length = _max_length(model)
    prompts, targets, owners = [], [], []
    per_text: list[float | None] = [None] * len(texts)
    for text_index, text in enumerate(texts):
        tokens = _encode(tokenizer, text)
        if len(tokens) - n - 1 <= 0:
            continue
        for start in ngram_starts(len(tokens), n, starts, max_length):
            prompts.append([tokenizer.bos_token_id, *tokens[:start]])
            targets.append(tokens[start : start + n])
            owners.append(text_index)
    # An eos before n tokens ends that generation short: a wrong n-gram, as in benbench.
    generations = greedy_generate(model, prompts, n, tokenizer.eos_token_id, batch_size)
    correct = np.array([g == t for g, t in zip(generations, targets)], dtype=float)
    owners_array = np.array(owners, dtype=int)
    for text_index in set(owners):
        per_text[text_index] = float(correct[owners_array == text_index].mean())
    return {
        "accuracy": float(correct.mean()) if len(correct) else None,
        "per_text": per_text,
        "pairs": len(correct),
        "skipped": sum(v is None for v in per_text),
    }
