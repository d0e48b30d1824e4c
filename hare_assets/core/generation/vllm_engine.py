"""The `vllm.LLM` arguments a machine needs, shared by the vllm generation backend and lm-eval's vllm model
(evaluation/harness.py); its own module so that scoring does not depend on the generation backends' code."""

from __future__ import annotations

from typing import Any

# vLLM on CPU sizes its KV cache from the machine's memory unless told: 1 GiB holds ~32k tokens of the 0.25B
# preset, plenty for offline batches, and leaves the rest to the other processes.
CPU_KV_CACHE_BYTES = 1 << 30


def device_engine_args(gpu_memory_utilization: float = 0.9) -> dict[str, Any]:
    """The `vllm.LLM` arguments this machine needs: a GPU's memory share and bf16, or on CPU a fixed KV cache,
    eager execution (no graph capture to pay for at start) and fp32 (vLLM would cast an fp32 checkpoint to
    bf16): the dtypes the transformers backend and lm-eval's hf model use, so they compute alike."""
    import torch

    if torch.cuda.is_available():
        return {"gpu_memory_utilization": gpu_memory_utilization, "dtype": "bfloat16"}
    return {"kv_cache_memory_bytes": CPU_KV_CACHE_BYTES, "enforce_eager": True, "dtype": "float32"}
