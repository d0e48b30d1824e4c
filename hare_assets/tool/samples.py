"""api_calling_samples from generations and templates: validation, one query per key, decontamination, and the
train / test split per API (pure code: no Dagster).

Every candidate ends as a row of the samples (split train or test) or of the rejections with its reason:
the generation did not parse, the call does not fit the API set (`calls.validate`), the call is of another
API than the one asked for, the query repeats one already taken (the same query is never in both splits),
it overlaps a benchmark (the paper's rule: n-gram repetition rate above the threshold), or the API already
has its train + test samples (`over_split_size`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from hare_assets.core.lake import stable_id
from hare_assets.core.overlap.index import index_from_table, prepare_index
from hare_assets.core.overlap.scoring import repetition_rates
from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import Api, ToolCalling
from hare_assets.tool.calls import Call, parse_plain, validate
from hare_assets.tool.prompts import parse_sample, tool_prompt
from hare_assets.tool.templates import query_key, template_samples

# (rate, benchmark, item id) per query: the benchmark overlap of each text.
Overlap = Callable[[list[str]], list[tuple[float, str | None, str | None]]]


def benchmark_overlap(ngrams: pa.Table, spec: int | tuple[int, int]) -> Overlap:
    """The `Overlap` of texts against a `benchmark_ngrams` table at the n-gram sizes `spec`."""
    index, explain = index_from_table(ngrams)
    index = prepare_index(index)

    def overlap(texts: list[str]) -> list[tuple[float, str | None, str | None]]:
        rates = repetition_rates(texts, index, spec)
        return [(r.rate, b, i) for r, (b, i, _) in zip(rates, explain.lookup([r.first_match for r in rates]))]
    return overlap


@dataclass(frozen=True)
class Candidate:
    api: Api
    query: str
    call: Call
    origin: str  # "llm" or "template"
    model: str | None


def parse_generation(api: Api, apis: tuple[Api, ...], text: str) -> tuple[str, Call] | Rejection:
    pair = parse_sample(text)
    if pair is None:
        return Rejection("no_request_and_call", text[:120])
    query, call_text = pair
    call = parse_plain(call_text)
    if isinstance(call, Rejection):
        return call
    if (why := validate(call, apis)) is not None:
        return why
    if call.function != api.name:
        return Rejection("wrong_function", f"asked for {api.name}, got {call.function}")
    return query, call


def sample_row(c: Candidate, apis: tuple[Api, ...], split: str, rate: float, bench: str | None,
               item: str | None) -> dict:
    prompt, completion = tool_prompt(c.query), c.call.functional(apis)
    return {"id": f"api-{stable_id(c.api.name, query_key(c.query))}", "api": c.api.name, "split": split,
            "query": c.query, "call": c.call.plain(), "prompt": prompt, "completion": completion,
            "text": prompt + completion, "origin": c.origin, "model": c.model, "repetition_rate": rate,
            "benchmark": bench, "item_id": item}


def rejection_row(api: Api, origin: str, query: str | None, raw: str, why: Rejection, model: str | None) -> dict:
    return {"id": f"api-rej-{stable_id(api.name, origin, raw)}", "api": api.name, "origin": origin,
            "query": query, "raw": raw, "model": model, **why.columns("api_calling_samples")}


def build_samples(cfg: ToolCalling, generations: dict[str, Sequence[str]], model: str | None, overlap: Overlap,
                  max_rate: float) -> tuple[list[dict], list[dict]]:
    """(samples, rejections) for every configured API. `generations[api]` are the backend's answers to that
    API's prompts; `overlap` scores queries against the benchmarks."""
    apis = cfg.apis
    rng = random.Random(cfg.seed)
    taken: set[str] = set()
    kept, rejected = [], []
    for api in apis:
        need = api.train + api.test
        fresh: list[Candidate] = []
        for text in generations.get(api.name, ()):
            parsed = parse_generation(api, apis, text)
            if isinstance(parsed, Rejection):
                rejected.append(rejection_row(api, "llm", None, text, parsed, model))
                continue
            query, call = parsed
            if query_key(query) in taken:
                rejected.append(rejection_row(api, "llm", query, text, Rejection("duplicate_query", query), model))
                continue
            taken.add(query_key(query))
            fresh.append(Candidate(api, query, call, "llm", model))
        accepted: list[tuple[Candidate, tuple]] = []
        # Template rounds refill what decontamination removed; they stop when the templates run dry.
        while True:
            scores = overlap([c.query for c in fresh]) if fresh else []
            for c, (rate, bench, item) in zip(fresh, scores):
                if rate > max_rate:
                    why = Rejection("benchmark_overlap", f"repetition rate {rate:.4f} > {max_rate} ({bench} {item})")
                    rejected.append(rejection_row(api, c.origin, c.query, c.call.plain(), why, c.model))
                else:
                    accepted.append((c, (rate, bench, item)))
            short = need - len(accepted)
            if not cfg.template_fill or short <= 0:
                break
            fresh = [Candidate(api, q, call, "template", None) for q, call in template_samples(api, short, rng, taken)]
            if not fresh:
                break
        order = list(range(len(accepted)))
        random.Random(f"{cfg.seed}:{api.name}").shuffle(order)
        for rank, i in enumerate(order):
            c, (rate, bench, item) = accepted[i]
            if rank >= need:
                why = Rejection("over_split_size", f"{api.name} has its {api.train} train + {api.test} test samples")
                rejected.append(rejection_row(api, c.origin, c.query, c.call.plain(), why, c.model))
                continue
            kept.append(sample_row(c, apis, "test" if rank < api.test else "train", rate, bench, item))
    return kept, rejected
