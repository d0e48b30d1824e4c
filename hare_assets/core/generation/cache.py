"""The LLM request cache: a DuckDB table keyed by a hash of (model, template, seed, prompt, params).

    cache = RequestCache(home / "cache" / "llm_requests.duckdb")
    reqs = [Request(template_sha256=t.sha256, seed_hash=text_sha256(seed), prompt=t.render(seed=seed, words=1000))]
    results, stats = generate_cached(backend, cache, reqs, params, batch_size=32)

Re-materializing never pays twice: a request whose key is in the cache is not sent. Each answer is
written as soon as the backend reports it, so a killed run resumes with only the requests it had not
finished.
The key also covers the rendered prompt's hash, so a changed render field (a length target, a
truncation) cannot reuse a generation made for a different prompt.

The connection is opened only for each read or write (another process, e.g. a second partition, may
hold the file); lock conflicts are retried for up to `lock_timeout_s`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb
import pyarrow as pa

from hare_assets.core.generation.backends import (
    Completed,
    Generation,
    GenerationBackend,
    SamplingParams,
)
from hare_assets.core.warehouse import connect_duckdb

TABLE = "request_cache"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key VARCHAR PRIMARY KEY,
    model VARCHAR NOT NULL,
    template VARCHAR NOT NULL,
    seed_hash VARCHAR NOT NULL,
    params VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
)"""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def params_json(params: SamplingParams) -> str:
    return json.dumps(params.to_dict(), sort_keys=True, separators=(",", ":"))


def cache_key(model_id: str, template_sha256: str, seed_hash: str, params: SamplingParams, prompt_sha256: str) -> str:
    payload = json.dumps([model_id, template_sha256, seed_hash, params_json(params), prompt_sha256],
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Request:
    """One generation request: the key fields (template hash, seed-text hash) and the rendered prompt."""

    template_sha256: str
    seed_hash: str
    prompt: str

    def key(self, model_id: str, params: SamplingParams) -> str:
        return cache_key(model_id, self.template_sha256, self.seed_hash, params, text_sha256(self.prompt))


@dataclass(frozen=True)
class CacheRow:
    key: str
    model: str
    template: str
    seed_hash: str
    params: str
    text: str
    tokens_in: int
    tokens_out: int


@dataclass
class GenerationStats:
    requests: int = 0
    cache_hits: int = 0  # requests answered from the cache (duplicates within a call count once sent)
    sent: int = 0  # distinct prompts sent to the backend
    batches: int = 0
    tokens_in: int = 0  # over sent prompts: what this run paid for
    tokens_out: int = 0
    cached_tokens_out: int = 0  # tokens_out of generations served from the cache
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return bool(con.execute(sql, [TABLE]).fetchone()[0])


class RequestCache:
    def __init__(self, duckdb_path: str | Path, lock_timeout_s: float = 120.0):
        self.path = Path(duckdb_path)
        self.lock_timeout_s = lock_timeout_s

    def __repr__(self) -> str:
        return f"RequestCache({str(self.path)!r})"

    def _with_connection(self, fn: Callable[[duckdb.DuckDBPyConnection], object], read_only: bool):
        # Opened per read or write: another process (a second partition) may hold the file meanwhile.
        with connect_duckdb(self.path, read_only, self.lock_timeout_s) as con:
            return fn(con)

    def _ensure(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._with_connection(lambda con: con.execute(_SCHEMA), read_only=False)

    def get_many(self, keys: Iterable[str]) -> dict[str, Generation]:
        wanted = sorted(set(keys))
        if not wanted or not self.path.exists():
            return {}

        def read(con: duckdb.DuckDBPyConnection) -> dict[str, Generation]:
            if not _has_table(con):
                return {}
            found: dict[str, Generation] = {}
            for i in range(0, len(wanted), 50_000):
                chunk = pa.table({"key": pa.array(wanted[i:i + 50_000], pa.string())})
                con.register("wanted_keys", chunk)
                rows = con.execute(f"SELECT c.key, c.text, c.tokens_in, c.tokens_out FROM {TABLE} c "
                                   "JOIN wanted_keys w USING (key)").fetchall()
                con.unregister("wanted_keys")
                for key, text, tin, tout in rows:
                    found[key] = Generation(text=text, tokens_in=int(tin), tokens_out=int(tout))
            return found

        return self._with_connection(read, read_only=True)

    def put_many(self, rows: Iterable[CacheRow]) -> int:
        """Insert rows (first write of a key wins); returns how many were new."""
        rows = list(rows)
        if not rows:
            return 0
        self._ensure()
        now = datetime.now(timezone.utc)
        table = pa.table({
            "key": pa.array([r.key for r in rows], pa.string()),
            "model": pa.array([r.model for r in rows], pa.string()),
            "template": pa.array([r.template for r in rows], pa.string()),
            "seed_hash": pa.array([r.seed_hash for r in rows], pa.string()),
            "params": pa.array([r.params for r in rows], pa.string()),
            "text": pa.array([r.text for r in rows], pa.string()),
            "tokens_in": pa.array([int(r.tokens_in) for r in rows], pa.int64()),
            "tokens_out": pa.array([int(r.tokens_out) for r in rows], pa.int64()),
            "created_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
        })

        def write(con: duckdb.DuckDBPyConnection) -> int:
            con.register("new_rows", table)
            before = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
            con.execute(f"INSERT INTO {TABLE} SELECT DISTINCT ON (key) * FROM new_rows ON CONFLICT DO NOTHING")
            after = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
            con.unregister("new_rows")
            return int(after - before)

        return self._with_connection(write, read_only=False)

    def count(self) -> int:
        if not self.path.exists():
            return 0

        def n(con: duckdb.DuckDBPyConnection) -> int:
            if not _has_table(con):
                return 0
            return int(con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])

        return self._with_connection(n, read_only=True)


def _completed(backend: GenerationBackend, prompts: list[str], params: SamplingParams) -> Iterator[Completed]:
    """Groups of finished (index, generation): streamed where the backend can, else one group per call."""
    stream = getattr(backend, "generate_stream", None)
    if stream is not None:
        yield from stream(prompts, params)
        return
    gens = backend.generate(prompts, params)
    if len(gens) != len(prompts):
        raise RuntimeError(f"{backend!r} returned {len(gens)} generations for {len(prompts)} prompts")
    yield list(enumerate(gens))


def generate_cached(backend: GenerationBackend, cache: RequestCache, requests: list[Request],
                    params: SamplingParams, batch_size: int = 32,
                    on_batch: Callable[[GenerationStats], None] | None = None,
                    ) -> tuple[list[Generation], GenerationStats]:
    """Generations for `requests` (same order), sending only keys the cache lacks.

    Distinct missing prompts go to the backend `batch_size` per call. Every answer is written to the
    cache as soon as the backend reports it finished (per request over HTTP, per model batch with
    transformers, per call otherwise), so a killed run never sends a finished request again.
    `on_batch` sees the running stats after each call.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    t0 = time.monotonic()
    stats = GenerationStats(requests=len(requests))
    keys = [r.key(backend.model_id, params) for r in requests]
    found = cache.get_many(keys)
    stats.cache_hits = sum(1 for k in keys if k in found)
    stats.cached_tokens_out = sum(found[k].tokens_out for k in keys if k in found)

    todo: dict[str, Request] = {}
    for k, r in zip(keys, requests):
        if k not in found and k not in todo:
            todo[k] = r
    pending = list(todo.items())
    pjson = params_json(params)
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        answered: set[int] = set()
        for group in _completed(backend, [r.prompt for _, r in batch], params):
            fresh = [(i, g) for i, g in group if i not in answered]
            answered.update(i for i, _ in fresh)
            cache.put_many(CacheRow(key=batch[i][0], model=backend.model_id, template=batch[i][1].template_sha256,
                                    seed_hash=batch[i][1].seed_hash, params=pjson, text=g.text,
                                    tokens_in=g.tokens_in, tokens_out=g.tokens_out) for i, g in fresh)
            for i, g in fresh:
                found[batch[i][0]] = g
            stats.sent += len(fresh)
            stats.tokens_in += sum(g.tokens_in for _, g in fresh)
            stats.tokens_out += sum(g.tokens_out for _, g in fresh)
        if len(answered) != len(batch):
            raise RuntimeError(f"{backend!r} answered {len(answered)} of {len(batch)} prompts")
        stats.batches += 1
        if on_batch is not None:
            stats.seconds = time.monotonic() - t0
            on_batch(stats)
    stats.seconds = time.monotonic() - t0
    return [found[k] for k in keys], stats
