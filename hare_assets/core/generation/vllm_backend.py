"""Offline batched generation with vLLM on a CUDA GPU (vllm is imported only when the backend is built).

    backend = VLLMBackend("mistralai/Mistral-7B-v0.1", seed=0)
"""

from __future__ import annotations

import threading
from typing import Any

from hare_assets.core.generation.backends import (
    BackendError,
    Generation,
    SamplingParams,
)


class VLLMBackend:
    """Offline batched generation with `vllm.LLM(...).generate` on a CUDA GPU (vllm imported lazily)."""

    name = "vllm"

    def __init__(self, model: str, seed: int = 0, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None, **llm_kwargs: Any):
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise BackendError("the vllm backend needs the vllm package "
                               f"(pip install 'hare-platform[gpu]'): {e}") from None
        import torch

        if not torch.cuda.is_available():
            raise BackendError("the vllm backend needs a CUDA GPU, and torch sees none; "
                               "use kind: transformers or kind: openai instead")
        self.model = model
        self.model_id = f"vllm:{model}"
        self._llm_kwargs = dict(model=model, seed=seed, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                                gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)
        if max_model_len is not None:
            self._llm_kwargs["max_model_len"] = max_model_len
        self._llm = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r})"

    def _engine(self):
        with self._lock:
            if self._llm is None:
                import vllm

                self._llm = vllm.LLM(**self._llm_kwargs)
        return self._llm

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        import vllm

        sp = vllm.SamplingParams(max_tokens=params.max_new_tokens, temperature=params.temperature, seed=params.seed)
        results = self._engine().generate(prompts, sp, use_tqdm=False)
        out = []
        for r in results:
            best = r.outputs[0]
            out.append(Generation(text=best.text, tokens_in=len(r.prompt_token_ids or []),
                                  tokens_out=len(best.token_ids or [])))
        return out
