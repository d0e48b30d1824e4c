"""d2_documents and d3_samples: seeded synthesis through the generation backend, plus open sources."""


import json
from collections import Counter

import dagster as dg
import duckdb
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.cards import cards_dir, dataset_card, write_card
from hare_assets.core.generation.cache import GenerationStats, Request, text_sha256
from hare_assets.core.generation.run import generate, generation_metadata
from hare_assets.core.lake import parquet_glob, read_table, stable_id, write_table
from hare_assets.core.markdown import markdown_table
from hare_assets.core.meta import (
    card_metadata,
    conservation_result,
    conservation_spec,
    table_metadata,
)
from hare_assets.core.provenance import document_rows, source_provenance
from hare_assets.core.rejection import Rejection
from hare_assets.core.resources import HareResource
from hare_assets.core.schemas import (
    DOCUMENT_SCHEMA,
    record_from_document,
    with_rejection_fields,
)
from hare_assets.core.settings import Settings, Synthesis, category_tokens
from hare_assets.core.warehouse import quote_literal
from hare_assets.synthesis.converters import convert
from hare_assets.synthesis.prompts import D3_TASKS, choose_template
from hare_assets.synthesis.rendering import format_sample
from hare_assets.synthesis.validators import validate

D2_WORDS = 1000  # the paper's prompt asks for more than 1000 words
SYNTH_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string()), ("prompt", pa.string()),
                          ("model", pa.string()), ("seed_id", pa.string()), ("topic", pa.string())])
D3_REJECTION_SCHEMA = with_rejection_fields(pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string())]))


def open_source_rows(hare: HareResource, settings: Settings, part: str) -> list[dict]:
    """raw_documents rows of the configured open sources of a part (cosmopedia for d2, SFT sets for d3)."""
    names = [s.name for s in settings.sources if s.part == part]
    if not names:
        return []
    with duckdb.connect() as con:
        return con.execute(f"""
            SELECT * FROM read_parquet({quote_literal(parquet_glob(hare.root, 'raw_documents', True))})
            WHERE source IN (SELECT unnest(?)) ORDER BY id""", [names]).to_arrow_table().to_pylist()


def source_rows(table: pa.Table, settings: Settings) -> list[dict]:
    """License rows of a D2 / D3 table: documents per (mix part, source) with each source's license."""
    counts = Counter(zip(table["mix_part"].to_pylist(), table["source"].to_pylist()))
    return document_rows(dict(counts), source_provenance(settings.sources))


def synthetic_card(settings: Settings, title: str, summary: str, table: pa.Table, sections: list[tuple[str, str]]):
    """The dataset card of d2_documents / d3_samples."""
    rows = source_rows(table, settings)
    return dataset_card(name=title, summary=summary, rows=table.num_rows, licenses=[r["license"] for r in rows],
                        source_rows=rows, sections=sections)


def d2_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    syn = settings.synthesis
    seeds = read_table(hare.lake("synthesis_seeds")).to_pylist()
    templates = [choose_template(s["category"], s["seed_id"]) for s in seeds]
    requests = [Request(t.sha256, text_sha256(s["seed_text"]), t.render(seed=s["seed_text"], words=D2_WORDS))
                for s, t in zip(seeds, templates)]
    model, gens, stats = generate(hare, context, requests, syn.backend)
    rows = [{
        "id": f"d2-{stable_id(model, t.sha256, s['seed_id'])}", "source": "d2_synthetic", "category": s["category"],
        "part": "d2", "text": g.text.strip(), "mix_part": "d2_synthetic", "prompt": t.id, "model": model,
        "seed_id": s["seed_id"], "topic": s["topic"],
        "meta": json.dumps({"doc_id": s["doc_id"], "tokens_in": g.tokens_in, "tokens_out": g.tokens_out}),
    } for s, t, g in zip(seeds, templates, gens)]
    rows += [{**r, "mix_part": "d2_open", "prompt": None, "model": None, "seed_id": None, "topic": None}
             for r in open_source_rows(hare, settings, "d2")]
    generated = Counter()
    for s, g in zip(seeds, gens):
        generated[s["category"]] += g.tokens_out
    tokens_per_category = {c: {"target": round(t), "generated": generated[c]}
                           for c, t in category_tokens(syn.d2_tokens, syn.d2_category_shares).items()}
    table = pa.Table.from_pylist(rows, schema=SYNTH_SCHEMA)
    write_table(hare.lake("d2_documents"), table)
    hare.publish("d2_documents", "d2_documents", partitioned=False)
    b = syn.backend
    card = synthetic_card(settings, "HARE D2 documents", (
        "The paper's D2: textbook-style documents synthesized from topic-balanced seed documents "
        "(`d2_synthetic`), plus the open synthetic source(s) read as they are (`d2_open`)."), table, [
        ("How it was built", (
            f"Seeds come from `synthesis_seeds` (k-means topics over the Table 4 seed sources, toward per-category "
            f"token targets). Each seed gets one of three prompts of its category family (template id in `prompt`), "
            f"generated through the `{b.kind}` backend with model `{model}` (max_new_tokens {b.max_new_tokens}, "
            f"temperature {b.temperature}); every request is cached by (model, template hash, seed hash, sampling "
            "parameters, prompt). On the offline sample the model has random weights: the text is not meaningful.")),
        ("Counts", markdown_table([{"mix_part": k, "documents": v}
                                   for k, v in sorted(Counter(table["mix_part"].to_pylist()).items())])
         + "\n\nTokens per seed category (target vs generated):\n\n"
         + markdown_table([{"category": c, **v} for c, v in tokens_per_category.items()])),
    ])
    card_path = write_card(card, cards_dir(hare.root, "d2_documents"))
    return dg.MaterializeResult(metadata={
        **card_metadata(card, card_path),
        **table_metadata(table, ["id", "mix_part", "category", "prompt", "text"]),
        "documents_per_part": dg.MetadataValue.json(dict(Counter(table["mix_part"].to_pylist()))),
        **generation_metadata(stats),
        "tokens_per_category": dg.MetadataValue.json(tokens_per_category),
        "model": model,
    })


def restruct_inputs(hare: HareResource, cfg: Synthesis) -> list[dict]:
    """The D2 subset seeding task synthesis: synthetic documents of the configured categories, taken
    in turn from each category so every one is represented."""
    d2 = read_table(hare.lake("d2_documents")).to_pylist()
    by_category = [[d for d in d2 if d["mix_part"] == "d2_synthetic" and d["category"] == c] for c in cfg.d3_categories]
    interleaved = [docs[i] for i in range(max(map(len, by_category), default=0)) for docs in by_category if i < len(docs)]
    return interleaved[: cfg.d3_seed_documents]


def d3_samples(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    docs = restruct_inputs(hare, settings.synthesis)
    tasks = [D3_TASKS[i % len(D3_TASKS)] for i in range(len(docs))]
    templates = [choose_template(task, d["id"]) for task, d in zip(tasks, docs)]
    requests = [Request(t.sha256, text_sha256(d["text"]), t.render(document=d["text"])) for d, t in zip(docs, templates)]
    model, gens, stats = generate(hare, context, requests, settings.synthesis.backend) if requests else (None, [], GenerationStats())
    kept, rejected = [], []
    for d, task, t, g in zip(docs, tasks, templates, gens):
        ok, parsed, reason = validate(task, g.text, source=d["text"])
        base = {"source": "d3_restruct", "category": d["category"], "part": "d3",
                "meta": json.dumps({"d2_id": d["id"], "task": task, "prompt": t.id, "model": model})}
        if ok:
            kept.append({**base, "id": f"d3-{stable_id(d['id'], t.sha256)}", "text": format_sample(task, parsed),
                         "mix_part": "d3_restruct"})
        else:
            rejected.append({**base, "id": f"d3-{stable_id(d['id'], t.sha256)}", "text": g.text,
                             "mix_part": "d3_restruct", **Rejection(f"{task}:{reason}").columns("validation")})
    open_rows = open_source_rows(hare, settings, "d3")
    for r in open_rows:
        source = settings.source(r["source"])
        out = convert(source.converter, record_from_document(r["text"], r["meta"], source.text_field))
        if isinstance(out, Rejection):
            rejected.append({**r, "mix_part": "d3_open",
                             **Rejection(f"{source.converter}:{out.reason}", out.detail).columns("conversion")})
            continue
        # One training sample per record: multi-sample conversions are joined so rows stay countable.
        kept.append({**r, "text": "\n\n".join(s["text"] for s in out), "mix_part": "d3_open",
                     "meta": json.dumps({**json.loads(r["meta"]), "tasks": [s["task"] for s in out]})})
    table = pa.Table.from_pylist(kept, schema=pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string())]))
    write_table(hare.lake("d3_samples"), table)
    write_table(hare.lake("d3_rejections"), pa.Table.from_pylist(rejected, schema=D3_REJECTION_SCHEMA))
    for name in ("d3_samples", "d3_rejections"):
        hare.publish(name, name, partitioned=False)
    reasons = Counter(r["reason"] for r in rejected)
    card = synthetic_card(settings, "HARE D3 samples", (
        "The paper's D3: NLP-task samples generated from D2 documents (`d3_restruct`) and open SFT sets converted "
        "to the same task formats (`d3_open`)."), table, [
        ("How it was built", (
            f"Up to {settings.synthesis.d3_seed_documents} D2 documents of {list(settings.synthesis.d3_categories)} "
            f"are turned into task samples (tasks cycle over {', '.join(D3_TASKS)}; three prompts each) through the "
            f"`{settings.synthesis.backend.kind}` backend (model `{model}`) and validated (a multiple-choice answer "
            "must parse as JSON with 4 options and the answer among them, a cloze must hold its blank, ...). The "
            "open SFT sets are converted by their converters (dolly, openhermes, autocot). Invalid generations and "
            "records go to `d3_rejections` with the reason.")),
        ("Counts", f"{len(docs) + len(open_rows):,} generations and records in, {len(kept):,} kept, "
                   f"{len(rejected):,} rejected.\n\n"
         + markdown_table([{"mix_part": k, "samples": v} for k, v in sorted(Counter(table["mix_part"].to_pylist()).items())])
         + "\n\nRejected by reason:\n\n" + markdown_table([{"reason": k, "rows": v} for k, v in sorted(reasons.items())])),
    ])
    card_path = write_card(card, cards_dir(hare.root, "d3_samples"))
    return dg.MaterializeResult(
        metadata={
            **card_metadata(card, card_path),
            **table_metadata(table, ["id", "mix_part", "text"]),
            "samples_per_part": dg.MetadataValue.json(dict(Counter(table["mix_part"].to_pylist()))),
            "rejected_by_reason": dg.MetadataValue.json(dict(reasons)),
            **generation_metadata(stats),
        },
        check_results=[conservation_result(len(docs) + len(open_rows), len(kept), reasons)],
    )


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    syn = settings.synthesis
    backend = f"{syn.backend.kind} backend {syn.backend.model!r}"
    d2_open = [s.name for s in settings.sources if s.part == "d2"]
    d3_open = [s.name for s in settings.sources if s.part == "d3"]
    provenance = source_provenance(settings.sources)  # the dataset cards' licenses
    return [
        asset(
            name="d2_documents",
            group_name="d2",
            deps=["synthesis_seeds", "raw_documents"],
            config=[syn.backend, syn.d2_tokens, syn.d2_category_shares, d2_open, provenance],
            kinds={"parquet"},
            description=("D2: a textbook-style course unit per seed, from a prompt of the seed's category family "
                         f"(chosen per seed, its template hash part of the request key), generated through the {backend} "
                         f"with the request cache (re-runs send nothing twice); plus the open sources {d2_open} as "
                         "part d2_open. The offline default backend is a tiny random-weight Mistral model: its text "
                         "is not meaningful."),
        )(d2_documents),
        asset(
            name="d3_samples",
            group_name="d3",
            deps=["d2_documents", "raw_documents"],
            config=[syn.backend, syn.d3_seed_documents, syn.d3_categories,
                    [s for s in settings.sources if s.part == "d3"], provenance],
            check_specs=[conservation_spec("d3_samples", "task generations and open SFT records")],
            kinds={"parquet"},
            description=(f"D3: NLP-task samples (the task cycles over {', '.join(D3_TASKS)}) generated by the "
                         f"{backend} from up to {syn.d3_seed_documents} D2 documents of {list(syn.d3_categories)} "
                         "and validated (multiple-choice JSON must parse with 4 options and the answer among them, "
                         "cloze must hold its blank, ...) as part d3_restruct; the open SFT sources "
                         f"{d3_open} converted to task formats as d3_open. Invalid ones go to d3_rejections with "
                         "the reason."),
        )(d3_samples),
    ]
