"""The API-calling fine-tune's pieces: the API config, calls (parse, validate, compare), functional tokens, sample
building (validation, dedup, decontamination, split), the RAG retrieval, and the GGUF export read back and run."""

from __future__ import annotations

import copy
import importlib.util
import random

import pytest

from hare_assets.core.overlap.index import benchmark_ngram_rows
from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import ToolCalling, table8_apis
from hare_assets.tool.calls import (
    Call,
    calls_match,
    parse_functional,
    parse_plain,
    validate,
)
from hare_assets.tool.samples import benchmark_overlap, build_samples
from hare_assets.tool.scoring import accuracy_rows, judge
from hare_assets.tool.templates import fill, query_key
from model_training.functional_tokens import (
    add_functional_tokens,
)

APIS = table8_apis()
BY_NAME = {a.name: a for a in APIS}


def test_table8_is_the_default_api_set():
    assert [a.paper_api for a in APIS] == [f"API-{k}" for k in range(7)]
    assert [(a.train, a.test) for a in APIS] == [(690, 50), (732, 50), (517, 50), (531, 50), (514, 50), (810, 50),
                                                 (469, 50)]
    assert [a.paper_rag_accuracy for a in APIS] == [96, 72, 32, 90, 100, 100, 10]
    assert ToolCalling().apis == APIS


def test_every_template_fill_is_a_valid_call_of_its_api():
    rng = random.Random(0)
    for api in APIS:
        for _ in range(50):
            query, call = fill(api, rng)
            assert call.function == api.name and query.strip()
            assert validate(call, APIS) is None, (query, call)


@pytest.mark.parametrize("text, reason", [
    ("get_weather(location=)", "unparsable"),
    ("get_weather", "not_a_call"),
    ("get_weather('Paris')", "positional_arguments"),
    ("get_weather(location=city)", "non_literal_argument"),
])
def test_parse_rejections_are_named(text, reason):
    assert parse_plain(text).reason == reason


@pytest.mark.parametrize("call, reason", [
    (Call("open_garage", {}), "unknown_function"),
    (Call("get_weather", {}), "missing_argument"),
    (Call("get_weather", {"location": "Paris", "days": 3}), "unknown_argument"),
    (Call("get_weather", {"location": 3}), "wrong_type"),
    (Call("turn_on_camera", {"camera": "left"}), "not_in_enum"),
    (Call("make_phone_call", {"phone_number": "call me"}), "pattern_mismatch"),
    (Call("send_email", {"recipient": "not-an-address", "content": "hi"}), "pattern_mismatch"),
])
def test_validation_against_the_schema(call, reason):
    assert validate(call, APIS).reason == reason


def test_scorer_on_hand_made_right_and_wrong_calls():
    target = Call("send_email", {"recipient": "ana@example.com", "content": "See you tomorrow"})
    right = ["send_email(recipient='ana@example.com', content='See you tomorrow')",
             'send_email(content="see you tomorrow.", recipient="Ana@Example.com")',  # BFCL normalization, any order
             "  send_email(recipient='ana@example.com', content='See  you tomorrow')\nanything after the first line"]
    wrong = ["send_email(recipient='bob@example.com', content='See you tomorrow')",  # wrong value
             "send_email(recipient='ana@example.com')",  # missing argument
             "send_email(recipient='ana@example.com', content='See you tomorrow', cc='x@y.com')",  # extra argument
             "get_weather(location='ana@example.com')",  # wrong function
             "I would send an email to Ana.", ""]  # no call
    assert judge(right + wrong, [target] * 9, APIS, functional=False) == [True] * 3 + [False] * 6
    functional_right = "<fn_5> (recipient='ana@example.com', content='See you tomorrow')<fn_end>"
    functional_wrong = ["<fn_4>(recipient='ana@example.com', content='See you tomorrow')<fn_end>",  # other token
                        "<fn_9>(recipient='ana@example.com', content='See you tomorrow')<fn_end>",  # no such API
                        "<fn_5>(recipient='ana@example.com', content='See you tomorrow')"]  # no end token
    assert judge([functional_right, *functional_wrong], [target] * 4, APIS, functional=True) == [True] + [False] * 3
    assert parse_functional(functional_wrong[1], APIS).reason == "unknown_function"
    assert calls_match(Call("no_function", {}), Call("no_function", {}))
    assert not calls_match(Rejection("unparsable"), Call("no_function", {}))
    rows = accuracy_rows(["a", "a", "a", "a", "b"], [True, True, True, False, False])
    assert rows["a"]["accuracy"] == 0.75 and rows["a"]["n"] == 4 and rows["a"]["stderr"] == pytest.approx(0.2165, 1e-3)
    assert rows["b"] == {"n": 1, "correct": 0, "accuracy": 0.0, "stderr": 0.0}


def test_functional_tokens_added_once_with_stable_ids_and_decoded_back():
    from transformers import MistralForCausalLM

    from model_training.configs import PRESETS
    from model_training.tokenizer import mistral_v1_tokenizer

    tok = copy.deepcopy(mistral_v1_tokenizer())
    model = MistralForCausalLM(PRESETS["tiny"].to_mistral_config())
    ids = add_functional_tokens(tok, model, len(APIS))
    assert ids == list(range(32000, 32008)) and len(tok) == 32008
    assert model.get_input_embeddings().weight.shape[0] == 32008 == model.get_output_embeddings().weight.shape[0]
    assert add_functional_tokens(tok, model, len(APIS)) == ids and len(tok) == 32008  # a second add changes nothing
    call = Call("turn_on_camera", {"camera": "back"})
    encoded = tok(call.functional(APIS), add_special_tokens=False).input_ids
    assert encoded[0] == 32003 and encoded[-1] == 32007 and encoded.count(32003) == 1  # one token each, never split
    assert calls_match(parse_functional(tok.decode(encoded), APIS), call)
    with pytest.raises(ValueError, match="only some functional tokens"):
        add_functional_tokens(tok, None, len(APIS) + 1)


def _overlap_against(benchmark_texts: list[str], spec=(4, 8)):
    return benchmark_overlap(benchmark_ngram_rows([("gsm8k", f"test/{i}", t) for i, t in enumerate(benchmark_texts)],
                                                  range(spec[0], spec[1] + 1)), spec)


def test_samples_validated_deduplicated_decontaminated_and_split():
    apis = tuple(a.model_copy(update={"train": 20, "test": 5}) for a in APIS[:2])
    cfg = ToolCalling(apis=apis, template_fill=True, seed=3)
    leaked = "Natalia sold clips to 48 of her friends in April"
    generations = {"make_phone_call": [
        "Dial 555 0134 now\nCall: make_phone_call(phone_number='555 0134')",  # valid
        "dial 555 0134 NOW!\nCall: make_phone_call(phone_number='555 0134')",  # the same query: duplicate
        "Call my mother\nCall: call_contact(name='Mom')",  # valid call of another API
        "Call the office\nCall: make_phone_call(phone_number='the office')",  # schema
        "random words without a call",
        f"{leaked}\nCall: make_phone_call(phone_number='5550134')",  # a benchmark question
    ]}
    kept, rejected = build_samples(cfg, generations, "m", _overlap_against([leaked + " and then she sold half."]), 0.5)
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == ["benchmark_overlap", "duplicate_query", "no_request_and_call", "pattern_mismatch",
                       "wrong_function"]
    for api in apis:
        mine = [r for r in kept if r["api"] == api.name]
        assert sum(r["split"] == "test" for r in mine) == 5 and sum(r["split"] == "train" for r in mine) == 20
    assert sum(r["origin"] == "llm" for r in kept) == 1  # the valid generation, topped up from the templates
    keys = {s: {query_key(r["query"]) for r in kept if r["split"] == s} for s in ("train", "test")}
    assert not keys["train"] & keys["test"] and len(keys["train"]) + len(keys["test"]) == len(kept)
    assert all(r["text"] == r["prompt"] + r["completion"] and r["completion"].endswith("<fn_end>") for r in kept)
    again, _ = build_samples(cfg, generations, "m", _overlap_against([leaked]), 0.5)
    assert [r["id"] for r in again] == [r["id"] for r in kept]  # deterministic
    without_templates, _ = build_samples(cfg.model_copy(update={"template_fill": False}), generations, "m",
                                         _overlap_against([leaked]), 0.5)
    assert [r["split"] for r in without_templates] == ["test"]


def test_rag_retrieval_finds_the_api_by_its_description():
    from hare_assets.core.embeddings import embed_texts
    from hare_assets.tool.scoring import api_documents, retrieve

    queries = ["Will it rain in Oslo tomorrow?", "Ring my sister Anna", "Email bob@example.com that I am late",
               "Open the selfie camera"]
    top = retrieve(embed_texts(queries, "all-MiniLM-L6-v2"), embed_texts(api_documents(APIS), "all-MiniLM-L6-v2"),
                   APIS, 2)
    assert [r[0].name for r in top[:1]] == ["get_weather"]
    assert "call_contact" in [a.name for a in top[1]] and top[2][0].name == "send_email"
    assert "turn_on_camera" in [a.name for a in top[3]]


@pytest.fixture(scope="module")
def tool_checkpoint(tmp_path_factory):
    """A tiny random Mistral with the functional tokens, saved as the trainer saves checkpoints."""
    import torch
    from transformers import MistralForCausalLM

    from model_training.configs import PRESETS
    from model_training.tokenizer import mistral_v1_tokenizer, save_tokenizer

    folder = tmp_path_factory.mktemp("tool") / "final"
    torch.manual_seed(0)
    model = MistralForCausalLM(PRESETS["tiny"].to_mistral_config())
    tok = copy.deepcopy(mistral_v1_tokenizer())
    add_functional_tokens(tok, model, len(APIS))
    save_tokenizer(folder)  # tokenizer.model (the sentencepiece vocabulary the GGUF writer reads)
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("qtype, quantized", [("Q4_0", 16), ("Q8_0", 16)])
def test_gguf_reads_back_with_quantized_tensors(tool_checkpoint, tmp_path, qtype, quantized):
    from model_training.gguf_export import export_gguf, read_gguf

    out = export_gguf(tool_checkpoint, tmp_path / f"m-{qtype}.gguf", qtype)
    back = read_gguf(out["path"], tool_checkpoint)
    # 2 layers x 7 matrices + token_embd + output quantized; 2 x 2 norms + output_norm in F32.
    assert back["tensor_types"] == {qtype: quantized, "F32": 5}
    assert back["architecture"] == "llama" and back["block_count"] == 2 and back["vocab_tokens"] == 32008
    assert back["token_embd_relative_error"] < (0.15 if qtype == "Q4_0" else 0.01)


def _greedy_reference(checkpoint):
    from model_training.evaluate import greedy_generate, load_checkpoint

    model, tok = load_checkpoint(checkpoint)
    prompts = [tok(f"Query: {q}\n\nResponse: ").input_ids for q in ("Call Anna", "Weather in Paris", "asdf qwer")]
    return prompts, greedy_generate(model, prompts, 12, eos_id=32007)


def test_gguf_loads_back_into_transformers_and_generates(tool_checkpoint, tmp_path):
    """transformers' GGUF loader (a reader independent of our writer) gives the HF model's greedy tokens from
    the F32 file (names, q/k permutation, shapes right) and generates from the Q4_0 file."""
    from model_training.gguf_export import export_gguf
    from model_training.gguf_runtime import agreement, transformers_gguf_greedy

    prompts, reference = _greedy_reference(tool_checkpoint)
    full = export_gguf(tool_checkpoint, tmp_path / "m-f32.gguf", "F32")["path"]
    assert agreement(reference, transformers_gguf_greedy(full, prompts, 12, 32007))["exact"] == 1.0
    int4 = export_gguf(tool_checkpoint, tmp_path / "m-q4.gguf", "Q4_0")["path"]
    outs = transformers_gguf_greedy(int4, prompts, 12, 32007)
    assert all(0 < len(o) <= 12 for o in outs)


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python is not installed (pip install '.[llama-cpp]': it compiles llama.cpp)")
def test_gguf_generates_in_llama_cpp_like_the_hf_model(tool_checkpoint, tmp_path):
    """llama.cpp on the F32 file gives the HF model's greedy tokens; on the Q4_0 file (its int4 kernels) it
    generates, with tokens/s measured."""
    from model_training.gguf_export import export_gguf
    from model_training.gguf_runtime import agreement, llama_cpp_greedy

    prompts, reference = _greedy_reference(tool_checkpoint)
    full = export_gguf(tool_checkpoint, tmp_path / "m-f32.gguf", "F32")["path"]
    outs, _ = llama_cpp_greedy(full, prompts, 12, stop_id=32007)
    assert agreement(reference, outs)["exact"] == 1.0
    int4 = export_gguf(tool_checkpoint, tmp_path / "m-q4.gguf", "Q4_0")["path"]
    outs4, timing = llama_cpp_greedy(int4, prompts, 12, stop_id=32007)
    assert all(0 < len(o) <= 12 for o in outs4) and timing["tokens_per_s"] > 0


def test_tool_run_adds_functional_tokens_and_trains_on_masked_samples(tmp_path):
    """The one train loop with `functional_tokens`: from a checkpoint without them, on shards of tool samples
    whose prompt is masked; the checkpoint has the 8 tokens at 32000.. in its tokenizer and embeddings, and a
    resumed (extended) run keeps them."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, MistralForCausalLM

    from hare_assets.core.packing import pack_samples, write_shards
    from model_training.chat_template import sample_from_segments
    from model_training.configs import PRESETS
    from model_training.functional_tokens import functional_tokenizer
    from model_training.run_config import RunConfig
    from model_training.tokenizer import save_tokenizer
    from model_training.train import train

    base = tmp_path / "stage2"
    torch.manual_seed(0)
    MistralForCausalLM(PRESETS["tiny"].to_mistral_config()).save_pretrained(base)
    save_tokenizer(base)
    tok = functional_tokenizer(len(APIS))
    rng = random.Random(1)
    rows = []
    for api in APIS:
        for _ in range(4):
            query, call = fill(api, rng)
            prompt, completion = f"Query: {query}\n\nResponse: ", call.functional(APIS)
            sample = sample_from_segments(tok, "<s>" + prompt + completion, [(3 + len(prompt), 3 + len(prompt + completion))])
            rows.append((sample.ids, sample.loss_mask))
    assert all(ids[m.index(1)] in range(32000, 32007) for ids, m in rows)  # the first trained token names the function
    write_shards(tmp_path / "shards", pack_samples(rows, 64, pad_id=0, eos_id=2), 64, shard_sequences=64, seed=0)
    cfg = RunConfig(preset="tiny", shards_dir=str(tmp_path / "shards"), output_dir=str(tmp_path / "tool"),
                    init_from=str(base), functional_tokens=len(APIS), micro_batch_size=4, grad_accum_steps=1,
                    max_steps=3, lr=1e-3, save_every=3)
    summary = train(cfg, log=lambda m: None)
    final = tmp_path / "tool" / "final"
    saved = AutoTokenizer.from_pretrained(final)
    assert saved.convert_tokens_to_ids(["<fn_0>", "<fn_6>", "<fn_end>"]) == [32000, 32006, 32007]
    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.config.vocab_size == 32008 and model.get_input_embeddings().weight.shape == (32008, 64)
    assert summary["steps"] == 3 and 0 < summary["final_loss"] < 20
    assert json.loads((final / "trainer_state.json").read_text())["functional_tokens"] == 7
    longer = train(RunConfig(**{**cfg.__dict__, "max_steps": 4}), log=lambda m: None)  # resumes from step 3
    assert longer["steps"] == 4
    assert AutoModelForCausalLM.from_pretrained(final).config.vocab_size == 32008
