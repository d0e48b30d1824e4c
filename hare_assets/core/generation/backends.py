"""Text-generation backends behind one interface: what they share, and `make_backend`, which builds the
one a config names. Each backend lives in its own module: `transformers_backend` (local transformers,
and the tiny random-weight Mistral), `openai_backend` (an OpenAI-compatible HTTP server: vLLM serve,
TGI, llama.cpp, a hosted API) and `vllm_backend` (offline vLLM, on a GPU or on CPU).

    backend = make_backend(settings.synthesis.backend, cache_dir=home / "models")
    outs = backend.generate(prompts, SamplingParams(max_new_tokens=64, temperature=0.0, seed=0))
    outs[0].text, outs[0].tokens_in, outs[0].tokens_out

`model_id` names the model for the request cache: two backends with the same `model_id` must give
interchangeable generations. Backends that finish requests one by one (HTTP, transformers batches) also
offer `generate_stream(prompts, params)`, yielding `[(index, Generation), ...]` groups as they
complete, so the request cache can store each answer before the next one arrives (a killed run then
loses no finished request).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hare_assets.core.settings import Backend


class BackendError(RuntimeError):
    """A backend that cannot be built or a request that failed for good."""


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 means greedy
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be > 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, cfg: "Backend") -> "SamplingParams":
        return cls(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)


@dataclass(frozen=True)
class Generation:
    text: str
    tokens_in: int
    tokens_out: int


@runtime_checkable
class GenerationBackend(Protocol):
    name: str
    model_id: str

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]: ...


Completed = list[tuple[int, Generation]]  # (index into the prompts, its generation), as they finish


def collect(stream: Iterator[Completed], n: int) -> list[Generation]:
    """The generations of a `generate_stream` in prompt order."""
    out: list[Generation | None] = [None] * n
    for group in stream:
        for i, g in group:
            out[i] = g
    missing = [i for i, g in enumerate(out) if g is None]
    if missing:
        raise BackendError(f"the backend answered no generation for prompts {missing[:10]}")
    return out  # type: ignore[return-value]


def make_backend(cfg: "Backend", cache_dir: Path) -> GenerationBackend:
    """The backend a `synthesis.backend` config names. `cache_dir` holds locally built models.

    Each backend's module is imported only when it is built (the transformers one needs torch, the vllm
    one vllm)."""
    if cfg.kind == "transformers":
        from hare_assets.core.generation.transformers_backend import TransformersBackend

        return TransformersBackend(cfg.model, batch_size=cfg.batch_size, cache_dir=Path(cache_dir), seed=cfg.seed)
    if cfg.kind == "openai":
        if not cfg.base_url:
            raise BackendError("synthesis.backend.base_url: required for kind 'openai'")
        from hare_assets.core.generation.openai_backend import OpenAICompatibleBackend

        return OpenAICompatibleBackend(cfg.base_url, cfg.model, api_key_env=cfg.api_key_env,
                                       max_concurrency=cfg.max_concurrency, timeout_s=cfg.timeout_s,
                                       max_retries=cfg.max_retries, chat=cfg.chat)
    if cfg.kind == "vllm":
        from hare_assets.core.generation.vllm_backend import VLLMBackend

        return VLLMBackend(cfg.model, seed=cfg.seed, cache_dir=Path(cache_dir))
    raise BackendError(f"synthesis.backend.kind: unknown backend {cfg.kind!r}")
