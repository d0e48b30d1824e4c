"""Greedy generation from a GGUF file, and how it agrees with the full-precision HF model on the same prompt
token ids. Two readers:
- llama.cpp through llama-cpp-python: the runtime phones use, with its int4 / int8 CPU kernels (Q4_0 weights
  against Q8 activations); also gives decode tokens/s;
- transformers' own GGUF loader (`from_pretrained(folder, gguf_file=...)`, through the `gguf` package): it
  dequantizes the file back to fp32 weights, so greedy outputs show what the quantized weights change, with no
  int4 kernel and no build step (the path CI takes where llama-cpp-python is not installed).

    outs, timing = llama_cpp_greedy("tool-q4_0.gguf", prompt_ids, max_new_tokens=16, stop_id=32007)
    outs = transformers_gguf_greedy("tool-q4_0.gguf", prompt_ids, 16, 32007)
    agreement(hf_outs, outs)   # {"exact": 0.9, "prefix": 0.95, "pairs": 50}

The prompts go in as token ids (the HF tokenizer's), so the comparison measures the weights, not two
tokenizers. Install llama-cpp-python with ``pip install 'hare-platform[llama-cpp]'`` (it compiles llama.cpp with
CMake: see the README for the time it takes).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from pathlib import Path


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def transformers_gguf_greedy(gguf_path: str | os.PathLike, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                             stop_id: int) -> list[list[int]]:
    """Greedy continuations of the GGUF file's weights, dequantized by transformers' GGUF loader (config and
    weights from the file alone)."""
    import torch
    from transformers import AutoModelForCausalLM

    from model_training.evaluate import greedy_generate

    gguf_path = Path(gguf_path).resolve()
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    return greedy_generate(model.eval(), [list(p) for p in prompts], max_new_tokens, stop_id)


def load_llama(path: str | os.PathLike, n_ctx: int, threads: int | None = None):
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise RuntimeError("llama-cpp-python is not installed: pip install 'hare-platform[llama-cpp]' "
                           "(it compiles llama.cpp with CMake; see the README)") from e
    return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads or os.cpu_count(), n_batch=512,
                 seed=0, verbose=False)


def llama_cpp_greedy(path: str | os.PathLike, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                     stop_id: int | None, n_ctx: int = 512, threads: int | None = None) -> tuple[list[list[int]], dict]:
    """Greedy continuations (at most `max_new_tokens`, cut before `stop_id`; None: never stop early) and the
    timing: decode tokens/s (tokens after the first over the time after the first, prompt evaluation excluded)."""
    llm = load_llama(path, n_ctx, threads)
    outputs, decode_tokens, decode_seconds = [], 0, 0.0
    for prompt in prompts:
        out: list[int] = []
        first_at = None
        for token in llm.generate(list(prompt), temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                                  reset=True):
            now = time.perf_counter()
            if first_at is None:
                first_at = now
            if stop_id is not None and token == stop_id:
                break
            out.append(int(token))
            if len(out) >= max_new_tokens:
                break
        if first_at is not None and len(out) > 1:
            decode_tokens += len(out) - 1
            decode_seconds += time.perf_counter() - first_at
        outputs.append(out)
    llm.close()
    timing = {"decode_tokens": decode_tokens, "decode_seconds": decode_seconds,
              "tokens_per_s": decode_tokens / decode_seconds if decode_seconds else None}
    return outputs, timing


def agreement(reference: Sequence[Sequence[int]], other: Sequence[Sequence[int]]) -> dict:
    """exact: share of prompts with identical continuations; prefix: mean share of the longer continuation
    covered by the common prefix (1.0 when both are empty)."""
    exact, prefix = 0, 0.0
    for a, b in zip(reference, other):
        exact += list(a) == list(b)
        common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        prefix += common / max(len(a), len(b)) if max(len(a), len(b)) else 1.0
    n = len(reference)
    return {"exact": exact / n if n else None, "prefix": prefix / n if n else None, "pairs": n}
