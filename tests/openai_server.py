"""A real HTTP server on localhost speaking the OpenAI completions API, for backend and cache tests.

    with OpenAIServer(answer=TransformersBackend(...)) as srv:     # or answer=None: echo the prompt
        srv.url, srv.seen, srv.delivered, srv.max_in_flight
        srv.script = [429, 503]     # statuses for the next requests, then normal answers
        srv.hold_after = 5          # answer 5 requests, hold every later one until release()

POST /v1/completions and /v1/chat/completions (the prompt is the last message's content; the tiny
model has no chat template), GET /v1/models. With `api_key` set, a request without
`Authorization: Bearer <api_key>` gets 401, as a hosted API would answer.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hare_assets.core.generation.backends import GenerationBackend, SamplingParams


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/") != "/v1/models":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        self._send(200, {"object": "list", "data": [{"id": self.server.owner.model_name, "object": "model"}]})

    def do_POST(self):
        owner = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        owner.arrived(self.path, self.headers.get("Authorization"), body)
        try:
            status = owner.status_for_next()
            if owner.api_key and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
                return self._send(401, {"error": {"message": "invalid api key"}})
            if status == 429:
                return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": owner.retry_after})
            if status != 200:
                return self._send(status, {"error": {"message": "server error"}})
            if owner.delay_s:
                time.sleep(owner.delay_s)
            if not owner.wait_turn():
                return self._send(503, {"error": {"message": "abandoned"}})
            params = SamplingParams(max_new_tokens=body["max_tokens"], temperature=body.get("temperature", 0.0),
                                    seed=body.get("seed", 0))
            gen = owner.answer_one(prompt, params)
            if chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": gen.text}, "finish_reason": "length"}
            else:
                choice = {"index": 0, "text": gen.text, "finish_reason": "length"}
            self._send(200, {"id": "cmpl-test", "object": "chat.completion" if chat else "text_completion",
                             "model": body["model"], "choices": [choice],
                             "usage": {"prompt_tokens": gen.tokens_in, "completion_tokens": gen.tokens_out,
                                       "total_tokens": gen.tokens_in + gen.tokens_out}})
            owner.mark_delivered(prompt)
        finally:
            owner.left()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "OpenAIServer"


class _Echo:
    """Answers 'echo:<prompt>' with word counts as token counts."""

    def generate(self, prompts, params):
        from hare_assets.core.generation.backends import Generation

        return [Generation(f"echo:{p}", len(p.split()), 3) for p in prompts]


class OpenAIServer:
    def __init__(self, answer: GenerationBackend | None = None, api_key: str | None = None,
                 model_name: str = "test-model", delay_s: float = 0.0, retry_after: str = "0"):
        self.answer = answer if answer is not None else _Echo()
        self.api_key = api_key
        self.model_name = model_name
        self.delay_s = delay_s
        self.retry_after = retry_after
        self.script: list[int] = []
        self.default_status = 200
        self.hold_after: int | None = None
        self.seen: list[dict] = []  # every request that arrived: path, auth header, body, time
        self.delivered: list[str] = []  # prompts whose answer was written to the client
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._gen_lock = threading.Lock()  # one generation at a time on the model
        self._released = threading.Event()
        self._granted = 0
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.owner = self
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}"

    def arrived(self, path, auth, body) -> None:
        with self._lock:
            self.seen.append({"path": path, "auth": auth, "body": body, "t": time.monotonic()})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def status_for_next(self) -> int:
        with self._lock:
            return self.script.pop(0) if self.script else self.default_status

    def wait_turn(self) -> bool:
        """False for a request held past `hold_after` and then released (it is answered 503)."""
        with self._lock:
            if self.hold_after is None or self._granted < self.hold_after:
                self._granted += 1
                return True
        self._released.wait()
        return False

    def release(self) -> None:
        """Let held requests go (with 503) and answer everything from now on."""
        with self._lock:
            self.hold_after = None
        self._released.set()

    def answer_one(self, prompt: str, params: SamplingParams):
        with self._gen_lock:
            return self.answer.generate([prompt], params)[0]

    def mark_delivered(self, prompt: str) -> None:
        with self._lock:
            self.delivered.append(prompt)

    def __enter__(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(5)
