"""Generation from an asset: the configured backend behind the warehouse request cache, and what it cost."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg

from hare_assets.core.generation.backends import SamplingParams, make_backend
from hare_assets.core.generation.cache import (
    GenerationStats,
    Request,
    RequestCache,
    generate_cached,
)
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Backend


def generate(hare: HareResource, context: dg.AssetExecutionContext, requests: list[Request], cfg: Backend,
             max_new_tokens: int | None = None):
    """Generations for the requests through the backend `cfg` (synthesis.backend) and the warehouse request
    cache (`max_new_tokens` overrides the backend's, e.g. for short rewrites)."""
    backend = make_backend(cfg, cache_dir=hare.root / "models")
    cache = RequestCache(hare.root / "warehouse.duckdb")
    params = SamplingParams.from_config(cfg)
    if max_new_tokens is not None:
        params = replace(params, max_new_tokens=max_new_tokens)
    gens, stats = generate_cached(backend, cache, requests, params, cfg.requests_per_call,
                                  on_batch=lambda s: context.log.info(f"generation: {s.sent} sent, {s.cache_hits} cached"))
    return backend.model_id, gens, stats


def generation_metadata(stats: GenerationStats) -> dict:
    """What this materialization asked for, sent and paid (numbers, so the UI plots them per run)."""
    return {
        "requests": dg.MetadataValue.int(stats.requests),
        "requests_sent": dg.MetadataValue.int(stats.sent),
        "cache_hits": dg.MetadataValue.int(stats.cache_hits),
        "cache_hit_rate": dg.MetadataValue.float(stats.cache_hits / stats.requests if stats.requests else 1.0),
        "tokens_in": dg.MetadataValue.int(stats.tokens_in),
        "tokens_out": dg.MetadataValue.int(stats.tokens_out),
        "cached_tokens_out": dg.MetadataValue.int(stats.cached_tokens_out),
        "generation_seconds": dg.MetadataValue.float(round(stats.seconds, 3)),
    }
