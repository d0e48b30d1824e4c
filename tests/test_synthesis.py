"""Synthesis stage: prompt templates, generation backends, request cache, D3 task parsing and open-SFT
converters (pure code), and the d3_rejections rows of the d3_samples asset."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from openai_server import OpenAIServer

from hare_assets.core.generation.backends import (
    BackendError,
    Generation,
    GenerationBackend,
    SamplingParams,
    make_backend,
)
from hare_assets.core.generation.cache import (
    Request,
    RequestCache,
    generate_cached,
    text_sha256,
)
from hare_assets.core.generation.openai_backend import OpenAICompatibleBackend
from hare_assets.core.generation.transformers_backend import TransformersBackend
from hare_assets.core.generation.vllm_backend import VLLMBackend
from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import Backend
from hare_assets.synthesis import prompts as P
from hare_assets.synthesis.converters import (
    convert,
    convert_autocot,
    convert_dolly,
    convert_openhermes,
)
from hare_assets.synthesis.rendering import format_sample
from hare_assets.synthesis.validators import Validation, validate

# ------------------------------------------------------------------------------------------ prompts


def test_every_family_and_task_has_three_templates_that_render():
    for fam in P.D2_FAMILIES:
        ts = P.templates_for(fam)
        assert len(ts) >= 3, fam
        for t in ts:
            assert t.fields == {"seed", "words"}
            out = t.render(seed="SEED-SNIPPET", words=1234)
            assert "SEED-SNIPPET" in out and "1234" in out and "{" not in out
            assert "title" in out.lower() and "introduction" in out.lower()
    for task in P.D3_TASKS:
        ts = P.templates_for(task)
        assert len(ts) >= 3, task
        for t in ts:
            assert t.fields == {"document"}
            assert "THE-DOC" in t.render(document="THE-DOC")
    assert {"qa", "multiple_choice", "cloze", "summarization"} <= set(P.D3_TASKS) and len(P.D3_TASKS) >= 6
    # Table 4 spellings work too
    for cat in ("Web", "Wiki", "News", "Academic", "Books", "Law", "Code", "Math"):
        assert P.templates_for(cat)
    for t in P.templates_for("multiple_choice"):
        text = t.render(document="d")
        assert '"options"' in text and "do not copy it" in text
        # The example answer in the prompt is itself in the required format; a copy of it is rejected.
        example = json.loads(text[text.index('{"question"'):text.rindex("}") + 1])
        assert set(example) == {"question", "options", "answer"} and len(example["options"]) == 4
        assert example["answer"] in example["options"]
        assert validate("multiple_choice", json.dumps(example)) == (False, None, "copied_from_prompt")
    assert all("____" in t.template for t in P.templates_for("cloze"))
    assert len({t.sha256 for t in P.TEMPLATES}) == len(P.TEMPLATES)
    # Each template is a named, versioned unit whose hash is part of the request key.
    a, b = P.templates_for("law")[:2]
    seed = text_sha256("same seed")
    params = SamplingParams()
    assert (Request(a.sha256, seed, "p").key("m", params) != Request(b.sha256, seed, "p").key("m", params))
    assert P.get_template(a.name) is a and a.id == f"{a.name}@v{a.version}"


def test_template_hash_tracks_text_and_version_and_missing_fields_fail():
    t = P.templates_for("law")[0]
    assert replace(t, template=t.template + " ").sha256 != t.sha256
    assert replace(t, version=t.version + 1).sha256 != t.sha256
    assert replace(t).sha256 == t.sha256
    with pytest.raises(P.TemplateError, match="words"):
        t.render(seed="x")
    with pytest.raises(P.TemplateError):
        P.templates_for("poetry")


def test_choose_template_is_deterministic_and_spreads():
    picks = {P.choose_template("Law", f"doc-{i}").name for i in range(40)}
    assert picks == {t.name for t in P.templates_for("law")}
    assert P.choose_template("law", "doc-7") == P.choose_template("Law", "doc-7")


# ------------------------------------------------------------------------------------------ backends


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def test_tiny_random_mistral_builds_reloads_offline_and_generates(models_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    backend = make_backend(Backend(kind="transformers", model="tiny-random-mistral", batch_size=2), models_dir)
    assert isinstance(backend, TransformersBackend) and isinstance(backend, GenerationBackend)
    folder = Path(backend.path)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    built = (folder / "model.safetensors").stat().st_mtime_ns

    prompts = ["Photosynthesis is", "The court held that the contract", "def add(a, b):", "x"]
    params = SamplingParams(max_new_tokens=6, temperature=0.0, seed=0)
    first = backend.generate(prompts, params)
    assert len(first) == len(prompts)
    assert all(isinstance(g.text, str) and 1 <= g.tokens_out <= 6 and g.tokens_in >= 2 for g in first)
    # The stream reports one group per model batch of batch_size prompts.
    groups = list(backend.generate_stream(prompts, params))
    assert [[i for i, _ in grp] for grp in groups] == [[0, 1], [2, 3]]
    assert [g for grp in groups for _, g in grp] == first

    # A second backend reuses the saved folder (no rebuild) and, greedy, gives the same text.
    again = TransformersBackend("tiny-random-mistral", batch_size=2, cache_dir=models_dir)
    assert again.path == backend.path and again.model_id == backend.model_id
    assert (folder / "model.safetensors").stat().st_mtime_ns == built
    assert again.generate(prompts, params) == first

    # The folder loads as a plain local model too; the tokenizer is the Mistral v1 one.
    local = TransformersBackend(str(folder), batch_size=4)
    assert local.model_id.startswith("transformers:") and local.generate(prompts[:1], params) == first[:1]
    _, tok = local.load()
    assert tok.bos_token_id == 1 and tok.eos_token_id == 2 and len(tok) == 32000 and tok.padding_side == "left"

    sampled = backend.generate(prompts, SamplingParams(max_new_tokens=6, temperature=1.0, seed=3))
    assert sampled == backend.generate(prompts, SamplingParams(max_new_tokens=6, temperature=1.0, seed=3))


def _http_backend(srv, **kw):
    defaults = dict(api_key_env="HARE_TEST_KEY", max_concurrency=4, timeout_s=5, max_retries=3,
                    backoff_base_s=0.01, backoff_max_s=0.05)
    return OpenAICompatibleBackend(srv.url, "test-model", **{**defaults, **kw})


def test_transformers_model_served_over_the_openai_api_matches_local_generation(models_dir, monkeypatch):
    """The HTTP backend against a real localhost server answering from the tiny transformers model:
    completions and chat give exactly what the transformers backend gives locally."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HARE_TEST_KEY", "sk-local-777")
    local = TransformersBackend("tiny-random-mistral", batch_size=1, cache_dir=models_dir)
    prompts = ["The court held that", "Stars form when", "def parse(line):"]
    params = SamplingParams(max_new_tokens=8, temperature=0.0, seed=0)
    expected = local.generate(prompts, params)
    with OpenAIServer(answer=local, api_key="sk-local-777") as srv:
        http = _http_backend(srv)
        assert http.generate(prompts, params) == expected
        assert {s["path"] for s in srv.seen} == {"/v1/completions"}
        assert srv.seen[0]["body"] == {"model": "test-model", "max_tokens": 8, "temperature": 0.0, "seed": 0, "n": 1,
                                       "prompt": srv.seen[0]["body"]["prompt"]}
        chat = _http_backend(srv, chat=True)
        assert chat.generate(prompts[:1], params) == expected[:1]
        assert srv.seen[-1]["path"] == "/v1/chat/completions"
        assert srv.seen[-1]["body"]["messages"] == [{"role": "user", "content": prompts[0]}]
        # Sampling parameters travel: a sampled answer is the local sampled answer.
        hot = SamplingParams(max_new_tokens=8, temperature=1.0, seed=5)
        assert http.generate(prompts[:1], hot) == local.generate(prompts[:1], hot)
        # A wrong key is refused (401) and not retried.
        monkeypatch.setenv("HARE_TEST_KEY", "sk-wrong")
        with pytest.raises(BackendError, match="401.*not retried"):
            http.generate(prompts[:1], params)


def test_http_backend_retries_429_and_5xx_with_backoff_and_sends_the_env_key(monkeypatch, caplog):
    monkeypatch.setenv("HARE_TEST_KEY", "sk-secret-123")
    caplog.set_level("DEBUG")
    with OpenAIServer(api_key="sk-secret-123", retry_after="0.3") as srv:
        srv.script = [429, 503, 502]
        backend = _http_backend(srv, max_concurrency=1, backoff_base_s=0.05, backoff_max_s=0.05)
        assert "sk-secret-123" not in repr(backend)
        out = backend.generate(["hello there", "second prompt"], SamplingParams(max_new_tokens=5))
        assert out == [Generation("echo:hello there", 2, 3), Generation("echo:second prompt", 2, 3)]
        assert len(srv.seen) == 5  # 429, 503, 502, then the two answers
        assert {s["auth"] for s in srv.seen} == {"Bearer sk-secret-123"}
        times = [s["t"] for s in srv.seen]
        assert times[1] - times[0] >= 0.29  # Retry-After: 0.3 is honoured
        assert srv.seen[-1]["body"]["max_tokens"] == 5 and srv.seen[-1]["body"]["model"] == "test-model"
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 3 and "HTTP 429" in retries[0] and "HTTP 503" in retries[1]
    assert not any("sk-secret-123" in r.getMessage() for r in caplog.records)

    # The key is read at each request: a rotated key is used without rebuilding the backend.
    with OpenAIServer(api_key="sk-rotated") as srv:
        monkeypatch.setenv("HARE_TEST_KEY", "sk-rotated")
        assert _http_backend(srv, chat=True).generate(["hi"], SamplingParams())[0].text == "echo:hi"
        assert srv.seen[-1]["auth"] == "Bearer sk-rotated"


def test_http_backend_keeps_to_its_concurrency_limit_and_streams_in_completion_order():
    with OpenAIServer(delay_s=0.15) as srv:
        backend = _http_backend(srv, max_concurrency=3)
        prompts = [f"prompt {i}" for i in range(9)]
        groups = list(backend.generate_stream(prompts, SamplingParams()))
        assert srv.max_in_flight == 3
        assert sorted(i for grp in groups for i, _ in grp) == list(range(9)) and len(groups) >= 3
        assert all(g.text == f"echo:{prompts[i]}" for grp in groups for i, g in grp)
    with OpenAIServer(delay_s=0.05) as srv:
        _http_backend(srv, max_concurrency=1).generate(prompts[:4], SamplingParams())
        assert srv.max_in_flight == 1


def test_http_backend_gives_a_clear_error_without_the_key(monkeypatch):
    monkeypatch.setenv("HARE_TEST_KEY", "sk-secret-123")
    with OpenAIServer() as srv:
        srv.default_status = 500
        backend = _http_backend(srv, max_retries=2)
        with pytest.raises(BackendError) as err:
            backend.generate(["p"], SamplingParams())
        msg = str(err.value)
        assert "/v1/completions" in msg and "500" in msg and "3 attempts" in msg
        assert "sk-secret-123" not in msg and "sk-secret-123" not in repr(err.value.__cause__)
        assert len(srv.seen) == 3

    # Answers that finished before a request failed for good are still reported by the stream.
    for script, prompts, before in (([400], ["bad", "a", "b"], []),
                                    ([200, 400], ["a", "bad", "b"], [(0, Generation("echo:a", 1, 3))])):
        with OpenAIServer() as srv:
            srv.script = script
            got = []
            with pytest.raises(BackendError, match="400"):
                for group in _http_backend(srv, max_concurrency=1).generate_stream(prompts, SamplingParams()):
                    got.extend(group)
            assert got == before


def test_http_backend_retries_timeouts():
    with OpenAIServer(delay_s=0.6) as srv:  # answers, but later than the client waits
        backend = _http_backend(srv, timeout_s=0.2, max_retries=1)
        with pytest.raises(BackendError, match="2 attempts.*timeout"):
            backend.generate(["p"], SamplingParams())
        assert len(srv.seen) == 2


def test_vllm_backend_needs_vllm(monkeypatch):
    """The real engine runs in tests/test_vllm_cpu.py (the cpu-engines extra)."""
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendError, match="needs vllm"):
        VLLMBackend("some/model")


def test_make_backend_validates_openai_config(tmp_path):
    with pytest.raises(BackendError, match="base_url"):
        make_backend(Backend(kind="openai", model="m"), tmp_path)
    b = make_backend(Backend(kind="openai", model="m", base_url="http://127.0.0.1:9/v1/", max_concurrency=3,
                             timeout_s=7, max_retries=2, chat=True), tmp_path)
    assert b.url == "http://127.0.0.1:9/v1/chat/completions" and b.model_id == "openai:m:chat"
    assert (b.max_concurrency, b.timeout_s, b.max_retries) == (3, 7, 2)


# --------------------------------------------------------------------------------------------- cache


class EchoBackend:
    name = "echo"
    model_id = "echo:v1"

    def __init__(self, fail_on_call: int | None = None):
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def generate(self, prompts, params):
        self.calls.append(list(prompts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        return [Generation(f"out:{p}", len(p), 2) for p in prompts]


def _requests(n: int) -> list[Request]:
    t = P.templates_for("wiki")[0]
    return [Request(t.sha256, text_sha256(f"seed {i}"), t.render(seed=f"seed {i}", words=100)) for i in range(n)]


def test_cache_second_call_sends_nothing(tmp_path):
    cache = RequestCache(tmp_path / "c" / "cache.duckdb")
    reqs = _requests(5)
    reqs.append(reqs[0])  # a duplicate is sent once
    params = SamplingParams(max_new_tokens=8)
    backend = EchoBackend()
    out, stats = generate_cached(backend, cache, reqs, params, batch_size=2)
    assert [g.text for g in out] == [f"out:{r.prompt}" for r in reqs]
    assert (stats.requests, stats.cache_hits, stats.sent, stats.batches) == (6, 0, 5, 3)
    assert stats.tokens_out == 10 and stats.tokens_in == sum(len(r.prompt) for r in reqs[:5])
    assert cache.count() == 5

    again, stats2 = generate_cached(EchoBackend(), cache, reqs, params, batch_size=2)
    assert again == out and (stats2.cache_hits, stats2.sent, stats2.tokens_in) == (6, 0, 0)

    # Other params or another model are other keys.
    _, stats3 = generate_cached(EchoBackend(), cache, reqs[:2], replace(params, temperature=0.7), batch_size=2)
    assert stats3.sent == 2
    other = EchoBackend()
    other.model_id = "echo:v2"
    _, stats4 = generate_cached(other, cache, reqs[:1], params, batch_size=2)
    assert stats4.sent == 1

    import duckdb

    with duckdb.connect(str(cache.path), read_only=True) as con:
        cols = [r[0] for r in con.execute("DESCRIBE request_cache").fetchall()]
        assert cols == ["key", "model", "template", "seed_hash", "params", "text", "tokens_in", "tokens_out",
                        "created_at"]
        assert con.execute("SELECT count(DISTINCT model) FROM request_cache").fetchone()[0] == 2


def test_cache_resumes_a_killed_run(tmp_path):
    cache = RequestCache(tmp_path / "cache.duckdb")
    reqs = _requests(7)
    params = SamplingParams()
    with pytest.raises(KeyboardInterrupt):
        generate_cached(EchoBackend(fail_on_call=2), cache, reqs, params, batch_size=3)
    assert cache.count() == 3  # the first batch was written before the kill
    backend = EchoBackend()
    out, stats = generate_cached(backend, cache, reqs, params, batch_size=3)
    assert (stats.cache_hits, stats.sent) == (3, 4)
    assert sorted(p for call in backend.calls for p in call) == sorted(r.prompt for r in reqs[3:])
    assert [g.text for g in out] == [f"out:{r.prompt}" for r in reqs]


def test_cache_waits_for_a_lock_held_by_another_process(tmp_path):
    cache = RequestCache(tmp_path / "cache.duckdb", lock_timeout_s=30)
    generate_cached(EchoBackend(), cache, _requests(1), SamplingParams(), batch_size=1)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(1.5)"),
        str(cache.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        _, stats = generate_cached(EchoBackend(), cache, _requests(2), SamplingParams(), batch_size=1)
        assert stats.cache_hits == 1 and stats.sent == 1
        assert time.monotonic() - t0 > 0.5  # it had to wait for the other process
    finally:
        holder.wait(10)
    short = RequestCache(cache.path, lock_timeout_s=0.3)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(3)"),
        str(cache.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match="locked"):
            short.get_many(["x"])
    finally:
        holder.kill()
        holder.wait(10)


# ---------------------------------------------------------------------------------------- validators

SOURCE = ("Photosynthesis is the process by which green plants use light energy, water and carbon dioxide "
          "to make glucose and oxygen. It takes place in the chloroplasts, which contain chlorophyll.")

GOOD = {
    "qa": ["Question: Where does photosynthesis take place?\nAnswer: In the chloroplasts.",
           "Here you go.\n**Q:** What does chlorophyll do?\n**A:** It absorbs light energy.\n\n"
           "Q: What gas is released?\nA: Oxygen."],
    "multiple_choice": [
        '{"question": "Where does photosynthesis occur?", "options": ["Mitochondria", "Chloroplasts", '
        '"Nucleus", "Ribosomes"], "answer": "Chloroplasts"}',
        'Sure:\n```json\n{"question": "What is produced?", "options": ["A. Glucose", "B. Salt", "C. Iron", '
        '"D. Helium"], "answer": "A"}\n```'],
    "cloze": ["Text: Photosynthesis takes place in the ____ of plant cells.\nAnswer: chloroplasts",
              "Plants make glucose using ______ energy.\nAnswer: light"],
    "summarization": ["Summary: Plants turn light, water and CO2 into glucose and oxygen in chloroplasts.",
                      "Green plants make sugar from light."],
    "true_false": ["Statement: Photosynthesis releases oxygen.\nAnswer: True",
                   "**Statement:** Photosynthesis happens in the nucleus.\n**Answer:** false."],
    "title_generation": ["Title: How Plants Make Food", '# "Photosynthesis and Chlorophyll"'],
    "keyword_extraction": ["Keywords: photosynthesis, chlorophyll, chloroplasts, light energy",
                           "- photosynthesis\n- glucose\n- carbon dioxide\n- oxygen"],
}

BAD = {
    "qa": [("", "empty"), ("The answer is 42.", "no_question"), ("Question: Why?", "no_answer"),
           ("Question: <the question>\nAnswer: <the answer>", "placeholder_copied"),
           ("Question: What?\nAnswer:   ", "empty_answer")],
    "multiple_choice": [
        ("not json at all", "not_json"),
        ('{"options": ["a", "b", "c", "d"], "answer": "a"}', "missing_question"),
        ('{"question": "Q?", "options": ["a", "b", "c"], "answer": "a"}', "options_not_4"),
        ('{"question": "Q?", "options": ["a", "b", "b", "d"], "answer": "a"}', "options_not_distinct"),
        ('{"question": "Q?", "options": ["a", "b", "c", "d"], "answer": "e"}', "answer_not_in_options"),
        ('{"question": "Q?", "options": ["a", "b", "c", "d"]}', "missing_answer"),
        ('{"question": "Which gas do plants take in from the air for photosynthesis?", "options": ["Oxygen", '
         '"Carbon dioxide", "Nitrogen", "Helium"], "answer": "Carbon dioxide"}', "copied_from_prompt")],
    "cloze": [("Text: Plants make glucose.\nAnswer: glucose", "no_blank"),
              ("Text: Plants make ____ from ____.\nAnswer: glucose", "multiple_blanks"),
              ("Text: Plants make ____.", "no_answer"),
              ("Text: Water boils at ____ degrees Celsius at sea level.\nAnswer: 100", "copied_from_prompt")],
    "summarization": [("Summary:   ", "empty"), ("Summary: " + SOURCE + " And more.", "not_shorter_than_source")],
    "true_false": [("Statement: Plants are green.\nAnswer: Maybe", "answer_not_true_false"),
                   ("Answer: True", "no_statement"), ("Statement: Plants are green.", "no_answer")],
    "title_generation": [("Title: ", "empty"), ("Title: " + " ".join(["word"] * 25), "title_too_long")],
    "keyword_extraction": [("Keywords: photosynthesis, glucose", "too_few_keywords"),
                           ("Keywords: banana, rocket, violin, castle", "keywords_not_in_source"),
                           ("Keywords: " + ", ".join(f"chlorophyll {i}" for i in range(12)), "too_many_keywords")],
}


@pytest.mark.parametrize("task", P.D3_TASKS)
def test_validators_accept_good_generations_and_render_them(task):
    for text in GOOD[task]:
        ok, parsed, reason = validate(task, text, source=SOURCE)
        assert ok and reason == "ok", (task, text, reason)
        sample = format_sample(task, parsed)
        assert isinstance(sample, str) and sample.strip()


@pytest.mark.parametrize("task", P.D3_TASKS)
def test_validators_reject_bad_generations_with_a_reason(task):
    for text, reason in BAD[task]:
        assert validate(task, text, source=SOURCE) == (False, None, reason), (task, text)


def test_validator_details():
    empty = validate("qa", "")
    assert isinstance(empty, Validation) and (empty.ok, empty.parsed, empty.reason) == (False, None, "empty")
    ok, mc, _ = validate("multiple_choice", GOOD["multiple_choice"][1])
    assert mc["options"] == ["Glucose", "Salt", "Iron", "Helium"] and mc["answer"] == "Glucose"
    assert format_sample("multiple_choice", mc).endswith("Answer: A. Glucose")
    _, qa, _ = validate("qa", GOOD["qa"][1])
    assert [p["answer"] for p in qa["pairs"]] == ["It absorbs light energy.", "Oxygen."]
    _, cl, _ = validate("cloze", GOOD["cloze"][1])
    assert cl["text"] == "Plants make glucose using ____ energy."
    _, tf, _ = validate("true_false", GOOD["true_false"][1])
    assert tf["answer"] is False
    assert validate("summarization", "Summary: short") == (False, None, "no_source")
    ok, summ, _ = validate("summarization", GOOD["summarization"][0], source=SOURCE)
    assert SOURCE in format_sample("summarization", summ)
    with pytest.raises(ValueError):
        validate("poetry", "x")


# ---------------------------------------------------------------------------------------- converters

DOLLY = [
    {"instruction": "When did Virgin Australia start operating?",
     "context": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.",
     "response": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.", "category": "closed_qa"},
    {"instruction": "Which is a species of fish? Tope or Rope", "context": "", "response": "Tope",
     "category": "classification"},
    {"instruction": "Summarize the history of the tea.", "context": "Tea originated in China. " * 5,
     "response": "Tea comes from China.", "category": "summarization"},
]

HERMES = [
    {"conversations": [{"from": "human", "value": "Every day, a tree drops 7 leaves. How many in a week?",
                        "weight": None},
                       {"from": "gpt", "value": "7 x 7 = 49 leaves.", "weight": None}],
     "source": "airoboros2.2", "category": "orca"},
    {"conversations": json.dumps([{"from": "system", "value": "You are helpful."},
                                  {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                                  {"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Blue."}]),
     "source": "CamelAI"},
]

AUTOCOT = [
    {"question": "Tom has 3 apples and buys 2 more. How many apples does he have?",
     "rationale": "Tom starts with 3 apples. He buys 2 more, so 3 + 2 = 5.", "answer": "5"},
    {"question": "Q: There are 15 trees. Workers plant more until there are 21. How many were planted?\nA:",
     "rationale": "Let's think step by step. 21 - 15 = 6. The answer is 6.", "pred_ans": "6", "gold_ans": "6"},
]


def test_convert_dolly():
    qa, cls, summ = (convert_dolly(r) for r in DOLLY)
    assert qa[0]["task"] == "qa" and qa[0]["text"].startswith("Virgin Australia commenced")
    assert "Question: When did Virgin Australia start operating?\nAnswer: Virgin" in qa[0]["text"]
    assert cls == [{"task": "instruction",
                    "text": "Instruction: Which is a species of fish? Tope or Rope\nResponse: Tope"}]
    assert summ[0]["task"] == "summarization" and summ[0]["text"].startswith("Summarize the history of the tea.")
    assert summ[0]["text"].endswith("Summary: Tea comes from China.")
    assert convert_dolly(json.dumps(DOLLY[1])) == cls
    assert convert_dolly({"instruction": "x", "context": ""}) == Rejection("missing_response")
    assert convert_dolly({"instruction": " ", "response": "y"}) == Rejection("empty_instruction")
    assert convert_dolly({"instruction": "x", "response": 3}) == Rejection("response_not_text")
    assert convert_dolly("{broken") == Rejection("bad_json")


def test_convert_openhermes():
    single, multi = (convert_openhermes(r) for r in HERMES)
    assert single == [{"task": "instruction", "text": "Instruction: Every day, a tree drops 7 leaves. How many in a "
                                                      "week?\nResponse: 7 x 7 = 49 leaves."}]
    assert multi == [{"task": "chat", "text": "System: You are helpful.\nUser: Hi\nAssistant: Hello!\n"
                                              "User: Name a colour.\nAssistant: Blue."}]
    assert convert("openhermes", json.dumps(HERMES[0])) == single
    bad = [({}, "missing_conversations"), ({"conversations": "[oops"}, "bad_conversations_json"),
           ({"conversations": []}, "empty_conversations"),
           ({"conversations": [{"from": "robot", "value": "x"}]}, "unknown_role"),
           ({"conversations": [{"from": "human", "value": "x"}]}, "ends_without_response"),
           ({"conversations": [{"from": "gpt", "value": "x"}]}, "turns_do_not_alternate"),
           ({"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "y"}]}, "empty_turn")]
    for record, reason in bad:
        assert convert_openhermes(record) == Rejection(reason), record


def test_convert_autocot():
    a, b = (convert_autocot(r) for r in AUTOCOT)
    assert a == [{"task": "qa", "text": "Question: Tom has 3 apples and buys 2 more. How many apples does he have?\n"
                                        "Answer: Tom starts with 3 apples. He buys 2 more, so 3 + 2 = 5.\n"
                                        "The answer is 5."}]
    assert b[0]["text"].startswith("Question: There are 15 trees.") and b[0]["text"].endswith("The answer is 6.")
    assert "Q:" not in b[0]["text"] and b[0]["text"].count("The answer is 6") == 1
    assert len(convert_autocot({"demo": AUTOCOT})) == 2
    assert convert_autocot({"question": "q", "rationale": "r"}) == Rejection("missing_answer")
    assert convert_autocot({"rationale": "r", "answer": "1"}) == Rejection("missing_question")
    assert convert_autocot([1, 2]) == Rejection("not_an_object")


# --------------------------------------------------- converters on fixture files in the real schemas

FIXTURES = Path(__file__).parent / "fixtures" / "sft"


def _through_ingestion(name: str, text_field: str, records: list, tmp_path: Path) -> list[dict]:
    """Records as d3_samples sees them: ingested into raw_documents rows (the real reader), then rebuilt."""
    from hare_assets.core.schemas import record_from_document
    from hare_assets.core.settings import Source
    from hare_assets.sources.reader import ReadNotes, iter_records, to_document

    path = tmp_path / name / "part-0.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    source = Source(name=name, category="sft", part="d3", weight=1.0, uri=str(path), format="jsonl",
                    text_field=text_field, converter=name)
    docs = [to_document(source, f, line, rec, str(tmp_path)) for f, line, rec in iter_records(source, 100, ReadNotes())]
    assert all(isinstance(d, dict) for d in docs), docs
    return [record_from_document(d["text"], d["meta"], text_field) for d in docs]


def test_dolly_fixture_file_converts_every_category(tmp_path):
    """databricks-dolly-15k.jsonl schema: instruction, context, response, category (8 categories)."""
    lines = (FIXTURES / "databricks-dolly-15k.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(set(r) == {"instruction", "context", "response", "category"} for r in records)
    rebuilt = _through_ingestion("dolly", "response", records, tmp_path)
    assert rebuilt == records
    out = {r["category"]: convert("dolly", r) for r in rebuilt}
    assert {c: [s["task"] for s in v] for c, v in out.items()} == {
        "closed_qa": ["qa"], "open_qa": ["qa"], "general_qa": ["qa"], "summarization": ["summarization"],
        "classification": ["instruction"], "brainstorming": ["instruction"], "information_extraction": ["instruction"],
        "creative_writing": ["instruction"]}
    closed = out["closed_qa"][0]["text"]
    assert closed.startswith("The Eiffel Tower is a wrought-iron")  # the context passage first
    assert closed.endswith("Question: When was the Eiffel Tower completed?\nAnswer: The Eiffel Tower was completed in 1889.")
    assert out["summarization"][0]["text"].endswith("Summary: A honey bee colony has one egg-laying queen, many "
                                                    "female workers that forage, build and nurse, and a few drones.")
    assert out["information_extraction"][0]["text"] == (
        "Instruction: Extract the names of the rivers mentioned in the text.\n"
        "Input: The city lies where the Danube meets the smaller Inn and Ilz rivers.\nResponse: Danube, Inn, Ilz")


def test_openhermes_fixture_file_converts_through_ingestion(tmp_path):
    """openhermes2_5.json: a JSON array of records with `conversations` [{from, value, weight}] and the
    nullable metadata fields; ingestion carries the turns as JSON text in the text column."""
    records = json.loads((FIXTURES / "openhermes2_5.json").read_text())
    assert all({"conversations", "source", "category", "skip_prompt_formatting", "system_prompt"} <= set(r)
               for r in records)
    rebuilt = _through_ingestion("openhermes", "conversations", records, tmp_path)
    assert all(isinstance(r["conversations"], str) for r in rebuilt)  # JSON text after ingestion
    single, multi, code = (convert("openhermes", r) for r in rebuilt)
    assert single == [{"task": "instruction", "text": "Instruction: A garden has 4 rows of 6 tulips. How many tulips "
                                                      "are there?\nResponse: There are 4 x 6 = 24 tulips."}]
    assert multi == [{"task": "chat", "text": "System: You are an AI assistant. Explain your reasoning.\n"
                                              "User: Is a tomato a fruit?\nAssistant: Botanically yes: it develops from "
                                              "the flower and holds seeds.\nUser: And in cooking?\nAssistant: In cooking "
                                              "it is usually treated as a vegetable."}]
    assert code[0]["text"].endswith("Response: Use `items[::-1]` for a reversed copy or `items.reverse()` to reverse "
                                    "in place.")
    assert [convert("openhermes", r) for r in records] == [single, multi, code]  # the raw records convert the same


def test_autocot_fixture_file_converts_whole_and_per_demo(tmp_path):
    """Auto-CoT demos/<task>: one JSON object {"demo": [{question "Q: ...\\nA:", rationale, pred_ans, gold_ans}]}."""
    whole = json.loads((FIXTURES / "autocot_multiarith_auto").read_text())
    assert set(whole) == {"demo"} and all(set(d) == {"question", "rationale", "pred_ans", "gold_ans"}
                                          for d in whole["demo"])
    samples = convert("autocot", whole)
    assert [s["task"] for s in samples] == ["qa"] * 3
    assert samples[0]["text"] == ("Question: Sara had 12 stickers. She gave 5 to her brother and bought 7 more. How "
                                  "many stickers does she have now?\nAnswer: Let's think step by step. Sara starts "
                                  "with 12 stickers. After giving 5 away she has 12 - 5 = 7. Buying 7 more gives "
                                  "7 + 7 = 14.\nThe answer is 14.")
    assert samples[1]["text"].count("The answer is 9") == 1  # already stated by the rationale
    rebuilt = _through_ingestion("autocot", "rationale", whole["demo"], tmp_path)
    assert [convert("autocot", r) for r in rebuilt] == [[s] for s in samples]


# ------------------------------------------------------------------------------ the d3_samples asset


class _NoTask:
    """Stands in for an LLM that ignores the task format: every generation is rejected."""

    def generate(self, prompts, params):
        return [Generation("I am not sure.", len(p.split()), 4) for p in prompts]


def test_d3_rejections_rows_carry_stage_reason_and_detail(tmp_path, monkeypatch):
    """Rejected generations and records land in d3_rejections with the shared stage / reason / detail
    columns: "<task>:<reason>" from validation, "<converter>:<reason>" from conversion."""
    import dagster as dg
    import pyarrow as pa
    import yaml

    from hare_assets.core.lake import asset_dir, read_table, write_table
    from hare_assets.core.resources import HareResource
    from hare_assets.core.schemas import DOCUMENT_SCHEMA, REJECTION_FIELDS
    from hare_assets.core.settings import PACKAGED_CONFIG, load_settings
    from hare_assets.synthesis.assets import build_assets

    home = tmp_path / "hare"
    d2 = [{"id": f"d2-{i}", "source": "d2_synthetic", "category": "Wiki", "part": "d2", "text": SOURCE, "meta": "{}",
           "mix_part": "d2_synthetic", "prompt": None, "model": None, "seed_id": None, "topic": None} for i in range(2)]
    write_table(asset_dir(home, "d2_documents"), pa.Table.from_pylist(d2))
    dolly = [{"id": "dolly-0", "source": "dolly", "category": "sft", "part": "d3", "text": "Tope",
              "meta": json.dumps({"instruction": "Tope or Rope?", "context": "", "category": "classification"})},
             {"id": "dolly-1", "source": "dolly", "category": "sft", "part": "d3", "text": "Tope",
              "meta": json.dumps({"context": "", "category": "classification"})}]
    write_table(asset_dir(home, "raw_documents", "dolly"), pa.Table.from_pylist(dolly, schema=DOCUMENT_SCHEMA))
    with OpenAIServer(answer=_NoTask()) as srv:
        cfg = yaml.safe_load(PACKAGED_CONFIG.read_text())
        cfg["sample_corpus"] = {"enabled": False}
        cfg["synthesis"]["backend"] = {"kind": "openai", "model": "no-task", "base_url": srv.url,
                                       "max_new_tokens": 8, "max_retries": 0}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
        monkeypatch.setenv("HARE_CONFIG", str(tmp_path / "config.yaml"))
        monkeypatch.setenv("HARE_HOME", str(home))
        with dg.instance_for_test() as instance:
            result = dg.materialize(build_assets(load_settings()), selection=["d3_samples"], instance=instance,
                                    resources={"hare": HareResource(home=str(home))})
        assert result.success
    rejections = read_table(asset_dir(home, "d3_rejections"))
    assert rejections.schema.names == [*DOCUMENT_SCHEMA.names, "mix_part", *(name for name, _ in REJECTION_FIELDS)]
    rows = sorted(rejections.to_pylist(), key=lambda r: r["reason"])
    assert [(r["mix_part"], r["stage"], r["reason"], r["detail"]) for r in rows] == [
        ("d3_open", "conversion", "dolly:missing_instruction", ""),
        ("d3_restruct", "validation", "multiple_choice:not_json", ""),
        ("d3_restruct", "validation", "qa:no_question", "")]
    assert read_table(asset_dir(home, "d3_samples"))["id"].to_pylist() == ["dolly-0"]
