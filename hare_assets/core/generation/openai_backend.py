"""Generation through an OpenAI-compatible HTTP server (vLLM serve, TGI, llama.cpp, a hosted API):
POST /v1/completions or /v1/chat/completions, concurrent, with retries and backoff.

    backend = OpenAICompatibleBackend("http://127.0.0.1:8000", "mistral-7b", api_key_env="HARE_LLM_API_KEY")
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Iterator

from hare_assets.core.generation.backends import (
    BackendError,
    Completed,
    Generation,
    SamplingParams,
    collect,
)

log = logging.getLogger(__name__)


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
