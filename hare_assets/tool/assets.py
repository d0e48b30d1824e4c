"""api_calling_samples, api_calling_scores and quantized_checkpoints: the API-calling fine-tune of Appendix C.2."""


import json
import math
import random
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.embeddings import embed_texts
from hare_assets.core.generation.cache import GenerationStats, Request, text_sha256
from hare_assets.core.generation.run import generate, generation_metadata
from hare_assets.core.lake import read_table, write_table
from hare_assets.core.launch import launch_command, train_run_json
from hare_assets.core.markdown import markdown_table
from hare_assets.core.meta import conservation_result, conservation_spec, table_metadata
from hare_assets.core.resources import HareResource
from hare_assets.core.schemas import REJECTION_FIELDS
from hare_assets.core.settings import Settings, ToolCalling
from hare_assets.tool.calls import parse_plain
from hare_assets.tool.prompts import (
    RAG_PROMPT,
    SAMPLE_PROMPT,
    rag_prompt,
    sample_prompt,
)
from hare_assets.tool.samples import benchmark_overlap, build_samples
from hare_assets.tool.scoring import accuracy_rows, api_documents, judge, retrieve
from hare_assets.tool.templates import template_samples

SAMPLE_SCHEMA = pa.schema([("id", pa.string()), ("api", pa.string()), ("split", pa.string()), ("query", pa.string()),
                           ("call", pa.string()), ("prompt", pa.string()), ("completion", pa.string()),
                           ("text", pa.string()), ("origin", pa.string()), ("model", pa.string()),
                           ("repetition_rate", pa.float64()), ("benchmark", pa.string()), ("item_id", pa.string())])
REJECTION_SCHEMA = pa.schema([("id", pa.string()), ("api", pa.string()), ("origin", pa.string()),
                              ("query", pa.string()), ("raw", pa.string()), ("model", pa.string()), *REJECTION_FIELDS])
COLUMNS = {
    "api": "The API (function) the sample calls: its name in tool.apis",
    "split": "train or test (Table 8's split sizes per API; a query is never in both)",
    "query": "The user's request",
    "call": "The target call in plain form, name(argument='value')",
    "prompt": "The tool model's prompt (Octopus v2's instruction around the query); masked in the fine-tune's loss",
    "completion": "The target in functional form <fn_k>(...)<fn_end>: what the tool model learns to write",
    "text": "prompt + completion",
    "origin": "llm (generated through synthesis.backend and validated) or template (slot filling, offline sample)",
    "model": "The generation backend's model id (llm rows)",
    "repetition_rate": "n-gram repetition rate of the query against the benchmarks (removed above the threshold)",
    "benchmark": "Benchmark of the first matched n-gram (null: none matched)",
    "item_id": "Benchmark item of the first matched n-gram",
    "raw": "The generation (or the call) as it was rejected",
}


def requests_per_api(cfg: ToolCalling) -> dict[str, int]:
    if cfg.llm_requests_per_api is not None:
        return {a.name: cfg.llm_requests_per_api for a in cfg.apis}
    return {a.name: math.ceil(cfg.oversample * (a.train + a.test)) for a in cfg.apis}


def api_calling_samples(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg = settings.tool
    # Queries are short: the D3 n-gram sizes.
    overlap = benchmark_overlap(read_table(hare.lake("benchmark_ngrams")), settings.decontamination.ngram["d3"])
    owners, requests = [], []
    per_api_requests = requests_per_api(cfg)
    for api in cfg.apis:
        for i in range(per_api_requests[api.name]):
            # Each request shows other template-filled examples, so the requests differ (and cache apart).
            shots = template_samples(api, cfg.few_shot, random.Random(f"{cfg.seed}:{api.name}:{i}"), set())
            owners.append(api.name)
            requests.append(Request(SAMPLE_PROMPT.sha256, text_sha256(f"{api.name}:{i}:{cfg.seed}"),
                                    sample_prompt(api, shots)))
    model, gens, stats = (generate(hare, context, requests, settings.synthesis.backend, cfg.max_new_tokens)
                          if requests else (None, [], GenerationStats()))
    generations: dict[str, list[str]] = {}
    for owner, g in zip(owners, gens):
        generations.setdefault(owner, []).append(g.text)
    kept, rejected = build_samples(cfg, generations, model, overlap, settings.decontamination.max_repetition_rate)
    table = pa.Table.from_pylist(kept, schema=SAMPLE_SCHEMA)
    rejections = pa.Table.from_pylist(rejected, schema=REJECTION_SCHEMA)
    write_table(hare.lake("api_calling_samples"), table)
    write_table(hare.lake("api_calling_rejections"), rejections)
    for name in ("api_calling_samples", "api_calling_rejections"):
        hare.publish(name, name, partitioned=False)
    per_api = []
    for api in cfg.apis:
        mine = [r for r in kept if r["api"] == api.name]
        per_api.append({"api": api.name, "paper_api": api.paper_api, "train": sum(r["split"] == "train" for r in mine),
                        "train_configured": api.train, "test": sum(r["split"] == "test" for r in mine),
                        "test_configured": api.test, "from_llm": sum(r["origin"] == "llm" for r in mine),
                        "from_templates": sum(r["origin"] == "template" for r in mine),
                        "rejected": sum(r["api"] == api.name for r in rejected)})
    short = [r["api"] for r in per_api if r["train"] < r["train_configured"] or r["test"] < r["test_configured"]]
    if short:
        context.log.warning(f"api_calling_samples: fewer samples than configured for {short} (see samples_per_api)")
    reasons = Counter(r["reason"] for r in rejected)
    rows_in = len(gens) + sum(r["origin"] == "template" for r in kept) + sum(
        r["origin"] == "template" for r in rejected)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table, ["api", "split", "origin", "query", "completion"], descriptions=COLUMNS),
            "samples_per_api": dg.MetadataValue.md(markdown_table(per_api)),
            "rejected_by_reason": dg.MetadataValue.json(dict(reasons)),
            "rows_in": rows_in,
            **generation_metadata(stats),
        },
        check_results=[conservation_result(rows_in, len(kept), reasons)],
    )


def test_split(hare: HareResource, cfg: ToolCalling) -> list[dict]:
    """The test rows scored: every one, or the first `max_scored_per_api` per API (a subset)."""
    rows = [r for r in read_table(hare.lake("api_calling_samples")).to_pylist() if r["split"] == "test"]
    taken: Counter = Counter()
    out = []
    for r in sorted(rows, key=lambda r: r["id"]):
        if cfg.max_scored_per_api is None or taken[r["api"]] < cfg.max_scored_per_api:
            taken[r["api"]] += 1
            out.append(r)
    return out


TOOL_RUN = "tool"  # HARE_HOME/checkpoints/tool: the fine-tune's output folder, beside the runs of `checkpoints`


def tool_checkpoint_path(hare: HareResource, needed_by: str) -> Path:
    return hare.final_checkpoint(TOOL_RUN, needed_by, made_by="tool_checkpoint")


def tool_training_samples(hare: HareResource, n_apis: int, seq_len: int):
    """(ids, loss mask) of every train-split sample: BOS + prompt + functional call, the call (from its
    functional token to <fn_end>) trained and the prompt masked."""
    from model_training.chat_template import sample_from_segments
    from model_training.functional_tokens import functional_tokenizer

    tokenizer = functional_tokenizer(n_apis)
    rows = read_table(hare.lake("api_calling_samples"), ["id", "split", "prompt", "completion"]).to_pylist()
    for r in sorted((r for r in rows if r["split"] == "train"), key=lambda r: r["id"]):
        text = tokenizer.bos_token + r["prompt"] + r["completion"]
        start = len(tokenizer.bos_token) + len(r["prompt"])
        sample = sample_from_segments(tokenizer, text, [(start, len(text))])
        yield sample.ids, sample.loss_mask


def tool_checkpoint(context: dg.AssetExecutionContext, hare: HareResource,
                    training_pipes_client: dg.ResourceParam[dg.PipesClient]) -> dg.MaterializeResult:
    from hare_assets.core.packing import pack_samples, write_shards

    settings = hare.settings()
    cfg = settings.tool
    run = cfg.training
    init_from = hare.final_checkpoint(run.init_from, "tool_checkpoint")
    shards = hare.lake("api_calling_shards")
    packer = pack_samples(tool_training_samples(hare, len(cfg.apis), run.seq_len), run.seq_len, pad_id=0, eos_id=2)
    manifest = write_shards(shards, packer, run.seq_len, settings.mixture.shard_sequences, cfg.seed,
                            {"run": TOOL_RUN, "tokenizer": "mistral-v1+functional", "functional_tokens": len(cfg.apis)})
    if manifest["total_sequences"] == 0:
        raise dg.Failure(f"tool_checkpoint: no train sample fits tool.training.seq_len={run.seq_len}")
    out = hare.root / "checkpoints" / TOOL_RUN
    if (out / "final").exists():  # a finished run is retrained from scratch; an interrupted one resumes
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out.parent / f"{TOOL_RUN}.run.json"
    config_path.write_text(json.dumps(train_run_json(settings.training, run, shards, out, init_from,
                                                     functional_tokens=len(cfg.apis)), indent=2))
    result = training_pipes_client.run(context=context,
                                       command=launch_command(settings.training, config_path)).get_materialize_result()
    return dg.MaterializeResult(
        metadata={**(result.metadata or {}),
                  "train_samples": manifest["documents"], "too_long_samples": manifest["too_long_samples"],
                  "label_tokens": manifest["label_tokens"], "shards": dg.MetadataValue.path(str(shards)),
                  "dagster_run": dg.MetadataValue.dagster_run(context.run_id)},
        data_version=result.data_version,
    )


def tool_model_outputs(checkpoint: Path, prompts: list[str], max_new_tokens: int, n_apis: int) -> list[str]:
    """Greedy completions of the tool model, decoded with the functional tokens kept."""
    from model_training.evaluate import greedy_generate, load_checkpoint
    from model_training.functional_tokens import END_TOKEN

    model, tokenizer = load_checkpoint(checkpoint)
    end = tokenizer.convert_tokens_to_ids(END_TOKEN)
    if end is None or end == tokenizer.unk_token_id:
        raise dg.Failure(f"{checkpoint}: the tokenizer has no functional tokens ({END_TOKEN}): not a tool checkpoint")
    ids = [tokenizer(p).input_ids for p in prompts]
    outs = greedy_generate(model, ids, max_new_tokens, end)
    # greedy_generate cuts before the end token: put it back, so the call reads as the model wrote it.
    return [tokenizer.decode(o, skip_special_tokens=False) + END_TOKEN for o in outs]


def api_calling_scores(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg = settings.tool
    items = test_split(hare, cfg)
    targets = [parse_plain(r["call"]) for r in items]
    names = [r["api"] for r in items]
    # RAG baseline: retrieval over the function descriptions, then the configured generation backend.
    api_vectors = embed_texts(api_documents(cfg.apis), settings.topics.embedding_model)
    query_vectors = embed_texts([r["query"] for r in items], settings.topics.embedding_model)
    retrieved = retrieve(query_vectors, api_vectors, cfg.apis, cfg.rag_top_k)
    requests = [Request(RAG_PROMPT.sha256, text_sha256(item["query"]), rag_prompt(item["query"], r))
                for item, r in zip(items, retrieved)]
    model_id, gens, stats = generate(hare, context, requests, settings.synthesis.backend, cfg.max_new_tokens)
    rag = accuracy_rows(names, judge([g.text for g in gens], targets, cfg.apis, functional=False))
    retrieval_hits = sum(any(a.name == n for a in r) for n, r in zip(names, retrieved))
    tool = {}
    if cfg.training is not None:
        outputs = tool_model_outputs(tool_checkpoint_path(hare, "api_calling_scores"), [r["prompt"] for r in items],
                                     cfg.max_new_tokens, len(cfg.apis))
        tool = accuracy_rows(names, judge(outputs, targets, cfg.apis, functional=True))
    subset = cfg.max_scored_per_api is not None
    rows = []
    for api in cfg.apis:
        t, b = tool.get(api.name, {}), rag.get(api.name, {})
        rows.append({"api": api.name, "paper_api": api.paper_api, "items": b.get("n", 0), "subset": subset,
                     "tool_model": TOOL_RUN if tool else None, "tool_accuracy_pct": 100 * t["accuracy"] if t else None,
                     "tool_stderr_pct": 100 * t["stderr"] if t else None,
                     "rag_model": model_id, "rag_accuracy_pct": 100 * b["accuracy"] if b else None,
                     "rag_stderr_pct": 100 * b["stderr"] if b else None,
                     "paper_tool_accuracy_pct": api.paper_tool_accuracy, "paper_rag_accuracy_pct": api.paper_rag_accuracy})
    table = pa.Table.from_pylist(rows)
    write_table(hare.lake("api_calling_scores"), table)
    hare.publish("api_calling_scores", "api_calling_scores", partitioned=False)
    shown = ["api", "paper_api", "items", "tool_accuracy_pct", "paper_tool_accuracy_pct", "rag_accuracy_pct",
             "paper_rag_accuracy_pct"]
    return dg.MaterializeResult(metadata={
        **table_metadata(table, shown, n=len(rows)),
        "scores_beside_table8": dg.MetadataValue.md(markdown_table(
            [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items() if k in shown} for r in rows], shown)),
        "items_scored": len(items),
        "rag_retrieval_recall": retrieval_hits / len(items) if items else None,
        **generation_metadata(stats),
    })


def quantized_checkpoints(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    from model_training.evaluate import greedy_generate, load_checkpoint
    from model_training.functional_tokens import END_TOKEN
    from model_training.gguf_export import export_gguf, read_gguf
    from model_training.gguf_runtime import (
        agreement,
        llama_cpp_available,
        llama_cpp_greedy,
        transformers_gguf_greedy,
    )

    settings = hare.settings()
    cfg = settings.tool
    checkpoint = tool_checkpoint_path(hare, "quantized_checkpoints")
    folder = hare.root / "quantized" / TOOL_RUN
    shutil.rmtree(folder, ignore_errors=True)
    model, tokenizer = load_checkpoint(checkpoint)
    end = tokenizer.convert_tokens_to_ids(END_TOKEN)
    prompts = [tokenizer(r["prompt"]).input_ids for r in test_split(hare, cfg)]
    reference = greedy_generate(model, prompts, cfg.agreement_tokens, end)
    llama = llama_cpp_available()
    if not llama:
        context.log.warning("llama-cpp-python is not installed: greedy agreement through transformers' GGUF loader "
                            "(dequantized weights), no int4 tokens/s (pip install 'hare-platform[llama-cpp]')")
    rows = []
    for qtype in cfg.gguf_types:
        written = export_gguf(checkpoint, folder / f"{TOOL_RUN}-{qtype.lower()}.gguf", qtype)
        back = read_gguf(written["path"], checkpoint)
        timing = {"tokens_per_s": None}
        if llama:
            outs, timing = llama_cpp_greedy(written["path"], prompts, cfg.agreement_tokens, end,
                                            n_ctx=max(len(p) for p in prompts) + cfg.agreement_tokens + 8)
        else:
            outs = transformers_gguf_greedy(written["path"], prompts, cfg.agreement_tokens, end)
        agree = agreement(reference, outs)
        rows.append({"model": TOOL_RUN, "type": qtype, "path": written["path"], "bytes": written["bytes"],
                     "tensor_types": json.dumps(back["tensor_types"]),
                     "token_embd_relative_error": back["token_embd_relative_error"],
                     "runtime": "llama.cpp" if llama else "transformers (dequantized)", "prompts": agree["pairs"],
                     "greedy_exact_agreement": agree["exact"], "greedy_prefix_agreement": agree["prefix"],
                     "cpu_tokens_per_s": timing["tokens_per_s"]})
        context.log.info(f"{qtype}: {written['bytes']:,} bytes, agreement {agree}, {timing}")
    table = pa.Table.from_pylist(rows)
    write_table(hare.lake("quantized_checkpoints"), table)
    hare.publish("quantized_checkpoints", "quantized_checkpoints", partitioned=False)
    return dg.MaterializeResult(metadata={
        **table_metadata(table, n=len(rows)),
        "gguf": dg.MetadataValue.md(markdown_table(rows)),
        "folder": dg.MetadataValue.path(str(folder)),
    })


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    cfg = settings.tool
    backend = f"{settings.synthesis.backend.kind} backend {settings.synthesis.backend.model!r}"
    apis = ", ".join(a.name for a in cfg.apis)
    assets = [
        asset(
            name="api_calling_samples",
            group_name="tool",
            deps=["benchmark_ngrams"],
            config=[cfg.apis, cfg.llm_requests_per_api, cfg.oversample, cfg.few_shot, cfg.template_fill,
                    cfg.max_new_tokens, cfg.seed, settings.synthesis.backend, settings.decontamination.ngram["d3"],
                    settings.decontamination.max_repetition_rate],
            check_specs=[conservation_spec("api_calling_samples", "generated and template-filled (query, call) pairs")],
            kinds={"parquet"},
            description=(f"Android API-calling samples (Appendix C.2) for {apis}: (query, call) pairs generated "
                         f"through the {backend} from few-shot prompts (request-cached) and validated (the call "
                         "parses, the function exists and is the one asked for, the arguments match the schema), "
                         + ("the shortfall filled from the APIs' query templates (slot filling), " if cfg.template_fill
                            else "") +
                         "one row per distinct query, decontaminated like D3 (n-gram repetition rate against the "
                         "benchmarks), then split train / test per API (Table 8's sizes). Rejected ones in "
                         "api_calling_rejections with the reason."),
        )(api_calling_samples),
        *([asset(
            name="tool_checkpoint",
            group_name="tool",
            deps=["api_calling_samples", "checkpoints"],
            launches=["model_training"],
            config=[cfg.training, len(cfg.apis), cfg.seed, settings.mixture.shard_sequences,
                    settings.training.deepspeed_zero_stage],
            kinds={"pytorch"},
            description=(f"The tool fine-tune: model_training's train loop (launched through Dagster Pipes, as "
                         f"checkpoints) from checkpoints[{cfg.training.init_from}]'s final checkpoint on the train "
                         f"split of api_calling_samples, one sample per row of {cfg.training.seq_len}+1 tokens, the "
                         f"prompt masked in the loss; {len(cfg.apis) + 1} functional tokens (<fn_0>..<fn_"
                         f"{len(cfg.apis) - 1}>, <fn_end>) added to the tokenizer and the embeddings resized. "
                         f"Output: HARE_HOME/checkpoints/{TOOL_RUN}/."),
        )(tool_checkpoint)] if cfg.training is not None else []),
        asset(
            name="api_calling_scores",
            group_name="tool",
            deps=["api_calling_samples", *(["tool_checkpoint"] if cfg.training else [])],
            launches=["model_training"],
            config=[cfg.apis, cfg.training is not None, cfg.max_scored_per_api, cfg.rag_top_k, cfg.max_new_tokens,
                    settings.synthesis.backend, settings.topics.embedding_model],
            kinds={"pytorch"},
            description=("Per-API accuracy on the test split (function exact, arguments equal after BFCL's "
                         "normalization) of the tool model "
                         + ("(tool_checkpoint) " if cfg.training else "(none: tool.training is not configured) ") +
                         f"and of a RAG baseline (the top {cfg.rag_top_k} function descriptions by "
                         f"{settings.topics.embedding_model} similarity, prompted to the {backend}), beside "
                         "Table 8's HARE-1.1B-Tool and Llama3-8B-RAG columns."),
        )(api_calling_scores),
    ]
    if cfg.training is not None:
        assets.append(asset(
            name="quantized_checkpoints",
            group_name="tool",
            deps=["tool_checkpoint", "api_calling_samples"],
            launches=["model_training"],
            config=[cfg.gguf_types, cfg.agreement_tokens, cfg.max_scored_per_api],
            kinds={"gguf"},
            description=(f"tool_checkpoint exported to GGUF ({', '.join(cfg.gguf_types)}) for llama.cpp, read "
                         "back with the gguf package, and run with llama.cpp (llama-cpp-python, CPU int4 / int8 "
                         f"kernels): greedy agreement with the full-precision model over {cfg.agreement_tokens} "
                         "tokens of each test prompt, and decode tokens/s. Without llama-cpp-python the agreement "
                         "comes from transformers' GGUF loader (dequantized weights) and there is no tokens/s."),
        )(quantized_checkpoints))
    return assets
