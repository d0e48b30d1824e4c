"""Text-generation backends behind one interface: local transformers, an OpenAI-compatible HTTP
server (vLLM serve, TGI, llama.cpp, a hosted API), or offline vLLM on a GPU.

    backend = make_backend(settings.synthesis.backend, cache_dir=home / "models")
    outs = backend.generate(prompts, SamplingParams(max_new_tokens=64, temperature=0.0, seed=0))
    outs[0].text, outs[0].tokens_in, outs[0].tokens_out

`model_id` names the model for the request cache: two backends with the same `model_id` must give
interchangeable generations. Backends that finish requests one by one (HTTP, transformers batches) also
offer `generate_stream(prompts, params)`, yielding `[(index, Generation), ...]` groups as they
complete, so the request cache can store each answer before the next one arrives (a killed run then
loses no finished request). "tiny-random-mistral" is a 2-layer random-weight Mistral with the Mistral
v1 tokenizer, built once offline: it exercises the whole path on CPU, its text is noise.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hare_assets.core.settings import Backend

log = logging.getLogger(__name__)

TINY_RANDOM_MISTRAL = "tiny-random-mistral"


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


# ------------------------------------------------------------------------------------ transformers


def _file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _folder_digest(folder: Path) -> str:
    """A short fingerprint of a saved model folder: config, tokenizer and (small) weight files by
    content, large weight files by size. Rebuilt or swapped weights give another model id."""
    files = sorted(p for p in folder.iterdir()
                   if p.name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                 "model.safetensors.index.json") or p.suffix == ".safetensors")
    small = [p for p in files if p.stat().st_size < 64 << 20]
    sizes = ",".join(f"{p.name}:{p.stat().st_size}" for p in files)
    return hashlib.sha256((sizes + _file_digest(small)).encode()).hexdigest()[:12]


def build_random_mistral(cache_dir: Path, seed: int = 0, preset_name: str = "tiny") -> Path:
    """Build (once) and save a random-weight Mistral of a model_training preset (`tiny`, `hare-0.25b`,
    `hare-1.1b`) + the Mistral v1 tokenizer; return its folder.

    The folder reloads offline with `from_pretrained`. Weights depend only on `seed` and the preset, so
    every machine builds the same model.
    """
    import torch
    from transformers import MistralForCausalLM

    from model_training.configs import PRESETS
    from model_training.tokenizer import save_tokenizer

    preset = PRESETS[preset_name]
    shape = hashlib.sha256(json.dumps(asdict(preset), sort_keys=True).encode()).hexdigest()[:8]
    target = Path(cache_dir) / f"random-mistral-{preset_name}-{shape}-seed{seed}"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    config = preset.to_mistral_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MistralForCausalLM(config)
    model.generation_config.pad_token_id = 0  # <unk>: Mistral v1 has no pad token
    model.save_pretrained(tmp)
    save_tokenizer(tmp)
    try:
        tmp.rename(target)  # atomic: a concurrent builder either wins or finds the finished folder
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


class TransformersBackend:
    """Local generation with transformers `AutoModelForCausalLM.generate`, batched, left-padded."""

    name = "transformers"

    def __init__(self, model: str, batch_size: int = 8, device: str = "auto", cache_dir: Path | None = None,
                 seed: int = 0, max_input_tokens: int | None = None):
        self.model_name = model
        self.batch_size = batch_size
        self.requested_device = device
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(".hare") / "models"
        self.build_seed = seed
        self.max_input_tokens = max_input_tokens
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        if model == TINY_RANDOM_MISTRAL:
            self.path: str = str(build_random_mistral(self.cache_dir, seed))
            self.model_id = f"transformers:{TINY_RANDOM_MISTRAL}#{_folder_digest(Path(self.path))}"
        else:
            self.path = model
            local = Path(model)
            if local.is_dir():
                self.model_id = f"transformers:{local.resolve().name}#{_folder_digest(local)}"
            else:
                self.model_id = f"transformers:{model}"

    def __repr__(self) -> str:
        return (f"TransformersBackend(model={self.model_name!r}, batch_size={self.batch_size}, "
                f"device={self.requested_device!r})")

    def _device(self):
        import torch

        if self.requested_device != "auto":
            return torch.device(self.requested_device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def load(self):
        """Load model and tokenizer once (thread-safe); returns (model, tokenizer)."""
        with self._lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                device = self._device()
                tok = AutoTokenizer.from_pretrained(self.path)
                tok.padding_side = "left"
                tok.truncation_side = "left"
                if tok.pad_token_id is None:
                    tok.pad_token = tok.unk_token if tok.unk_token is not None else tok.eos_token
                dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(device)
                model.eval()
                self._model, self._tokenizer = model, tok
        return self._model, self._tokenizer

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        return collect(self.generate_stream(prompts, params), len(prompts))

    def generate_stream(self, prompts: list[str], params: SamplingParams) -> Iterator[Completed]:
        """One group per model batch of `batch_size` prompts."""
        import torch

        if not prompts:
            return
        model, tok = self.load()
        device = next(model.parameters()).device
        max_pos = getattr(model.config, "max_position_embeddings", None) or 2048
        max_in = self.max_input_tokens or max(1, max_pos - params.max_new_tokens)
        eos = tok.eos_token_id
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_in)
            enc = {k: v.to(device) for k, v in enc.items()}
            kwargs: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id,
                                          eos_token_id=eos)
            if params.temperature == 0:
                kwargs.update(do_sample=False)
            else:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=1.0, top_k=0)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(params.seed + start)
                with torch.no_grad():
                    seqs = model.generate(**enc, **kwargs)
            width = enc["input_ids"].shape[1]
            done: Completed = []
            for i in range(len(batch)):
                new = seqs[i, width:].tolist()
                if eos is not None and eos in new:
                    new = new[:new.index(eos) + 1]
                else:
                    while new and new[-1] == tok.pad_token_id:
                        new.pop()
                text = tok.decode(new, skip_special_tokens=True)
                done.append((start + i, Generation(text=text, tokens_in=int(enc["attention_mask"][i].sum()),
                                                   tokens_out=len(new))))
            yield done


# ---------------------------------------------------------------------------- OpenAI-compatible HTTP

_RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAICompatibleBackend:
    """POST {base_url}/v1/completions (or /v1/chat/completions with chat=True) with retries.

    The API key is read from the environment variable `api_key_env` at each request and sent as
    `Authorization: Bearer ...`; it is never stored on the object, logged, or put in an error message.
    Requests run in a thread pool of at most `max_concurrency`; 408/409/425/429/5xx answers, timeouts and
    connection errors are retried up to `max_retries` times with exponential backoff and full jitter,
    waiting at least what a Retry-After header asks.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "HARE_LLM_API_KEY", max_concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 5, chat: bool = False, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, retry_after_max_s: float = 300.0, stop: list[str] | None = None):
        if not base_url:
            raise BackendError("the openai backend needs a base_url (e.g. http://127.0.0.1:8000)")
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root[:-3]
        self.base_url = root
        self.model = model
        self.model_id = f"openai:{model}" + (":chat" if chat else "")
        self.api_key_env = api_key_env
        self.max_concurrency = max(1, int(max_concurrency))
        self.timeout_s = timeout_s
        self.max_retries = max(0, int(max_retries))
        self.chat = chat
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.stop = list(stop) if stop else None
        host = urllib.parse.urlsplit(root).hostname or ""
        # Loopback servers never go through an HTTP proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return (f"OpenAICompatibleBackend(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r}, chat={self.chat})")

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/chat/completions" if self.chat else f"{self.base_url}/v1/completions"

    def _payload(self, prompt: str, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_new_tokens,
                                "temperature": params.temperature, "seed": params.seed, "n": 1}
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if self.stop:
            body["stop"] = self.stop
        return body

    @staticmethod
    def _redact(text: str, key: str | None) -> str:
        return text.replace(key, "[redacted]") if key else text

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2 ** attempt)))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max_s))
        return wait

    def _parse(self, raw: bytes) -> Generation:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"]["content"] if self.chat else choice["text"]
        usage = data.get("usage") or {}
        return Generation(text=text or "", tokens_in=int(usage.get("prompt_tokens") or 0),
                          tokens_out=int(usage.get("completion_tokens") or 0))

    def _one(self, prompt: str, params: SamplingParams) -> Generation:
        url = self.url
        body = json.dumps(self._payload(prompt, params)).encode("utf-8")
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            key = os.environ.get(self.api_key_env) or None
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            retry_after = None
            try:
                with self._opener.open(req, timeout=self.timeout_s) as resp:
                    raw = resp.read()
                try:
                    return self._parse(raw)
                except (ValueError, KeyError, IndexError, TypeError) as e:
                    snippet = self._redact(raw[:300].decode("utf-8", "replace"), key)
                    raise BackendError(f"POST {url}: unexpected response ({type(e).__name__}): {snippet!r}") from None
            except urllib.error.HTTPError as e:
                detail = self._redact(e.read()[:300].decode("utf-8", "replace"), key) if e.fp else ""
                last = f"HTTP {e.code} {e.reason}: {detail}".strip()
                if e.code not in _RETRY_STATUS:
                    raise BackendError(f"POST {url} failed: {last} (not retried)") from None
                retry_after = _retry_after_seconds(e.headers.get("Retry-After") if e.headers else None)
            except (TimeoutError, socket.timeout) as e:
                last = f"timeout after {self.timeout_s}s ({type(e).__name__})"
            except urllib.error.URLError as e:
                last = f"connection error: {self._redact(str(e.reason), key)}"
            except (ConnectionError, OSError, http.client.HTTPException) as e:  # reset, remote closed, truncated
                last = f"connection error: {type(e).__name__}"
            if attempt < self.max_retries:
                wait = self._backoff(attempt, retry_after)
                log.warning("POST %s: %s; retry %d/%d in %.2fs", url, last, attempt + 1, self.max_retries, wait)
                time.sleep(wait)
        raise BackendError(f"POST {url} failed after {self.max_retries + 1} attempts; last: {last}")

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        return collect(self.generate_stream(prompts, params), len(prompts))

    def generate_stream(self, prompts: list[str], params: SamplingParams) -> Iterator[Completed]:
        """Requests in flight: at most `max_concurrency`; each group holds what finished since the last.

        When a request fails for good, the answers that finished before it are still yielded, then the
        unsent requests are cancelled and the error raised.
        """
        if not prompts:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts)), thread_name_prefix="hare-llm")
        try:
            index = {pool.submit(self._one, p, params): i for i, p in enumerate(prompts)}
            pending = set(index)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                failed = [f for f in done if f.exception() is not None]
                finished = sorted((index[f], f.result()) for f in done if f.exception() is None)
                if finished:
                    yield finished
                if failed:
                    raise failed[0].exception()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------- vLLM


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


# -------------------------------------------------------------------------------------------- factory


def make_backend(cfg: "Backend", cache_dir: Path) -> GenerationBackend:
    """The backend a `synthesis.backend` config names. `cache_dir` holds locally built models."""
    if cfg.kind == "transformers":
        return TransformersBackend(cfg.model, batch_size=cfg.batch_size, cache_dir=Path(cache_dir), seed=cfg.seed)
    if cfg.kind == "openai":
        if not cfg.base_url:
            raise BackendError("synthesis.backend.base_url: required for kind 'openai'")
        return OpenAICompatibleBackend(cfg.base_url, cfg.model, api_key_env=cfg.api_key_env,
                                       max_concurrency=cfg.max_concurrency, timeout_s=cfg.timeout_s,
                                       max_retries=cfg.max_retries, chat=cfg.chat)
    if cfg.kind == "vllm":
        return VLLMBackend(cfg.model, seed=cfg.seed)
    raise BackendError(f"synthesis.backend.kind: unknown backend {cfg.kind!r}")
