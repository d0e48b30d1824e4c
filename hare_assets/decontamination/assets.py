"""benchmark_ngrams, decontaminated_documents, contamination_report: the paper's decontamination."""


import json
from collections import Counter, defaultdict, deque

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hare_assets.core.asset import asset
from hare_assets.core.benchmarks import load_benchmark
from hare_assets.core.cards import cards_dir, dataset_card, write_card
from hare_assets.core.compute import map_batches
from hare_assets.core.lake import (
    ParquetSink,
    parquet_glob,
    read_table,
    staged,
    write_table,
)
from hare_assets.core.meta import (
    card_metadata,
    conservation_result,
    conservation_spec,
    markdown_table,
    table_metadata,
)
from hare_assets.core.overlap.hashing import ngram_sizes
from hare_assets.core.overlap.index import (
    benchmark_ngram_rows,
    index_from_table,
    prepare_index,
)
from hare_assets.core.overlap.rules import BENCHMARK_OVERLAP, removal
from hare_assets.core.overlap.scoring import check_texts
from hare_assets.core.provenance import license_rows, source_provenance
from hare_assets.core.resources import HareResource
from hare_assets.core.sample import ensure_sample
from hare_assets.core.schemas import DOCUMENT_SCHEMA, REJECTION_FIELDS
from hare_assets.core.settings import Settings
from hare_assets.core.warehouse import quote_literal
from model_training.tokenizer import process_tokenizer

# Mix inputs: (asset, paper part) in the order they are checked; the chat fine-tune's conversations too
# (SFT data leaks benchmarks as well), as their own part.
INPUTS = (("d1_documents", "d1"), ("d2_documents", "d2"), ("d3_samples", "d3"), ("chat_sft_samples", "chat"))
# benchmark / item_id: where the document's first matched n-gram comes from (null: no n-gram matched).
MIX_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string()), ("source_weight", pa.float64()),
                        ("tokens", pa.int64()), ("repetition_rate", pa.float64()), ("benchmark", pa.string()),
                        ("item_id", pa.string())])
# Removed rows: stage / reason / detail like every rejection table, then what the rule measured.
REMOVED_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string()), *REJECTION_FIELDS, ("tokens", pa.int64()),
                            ("repetition_rate", pa.float64()), ("ngram_n", pa.int32()), ("benchmark", pa.string()),
                            ("item_id", pa.string()), ("example_ngram", pa.string())])
HIST_BINS = np.linspace(0, 1, 11)
BATCH = 2048


def benchmark_ngrams(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    ensure_sample(settings)
    ns = sorted({n for spec in settings.decontamination.ngram.values() for n in ngram_sizes(spec)})
    items, per_benchmark = [], {}
    for bench in settings.benchmarks:
        loaded = load_benchmark(bench.name, bench.uri)
        per_benchmark[bench.name] = len(loaded)
        items.extend((it.benchmark, f"{it.split}/{it.item_id}", it.text) for it in loaded)
    table = benchmark_ngram_rows(items, ns)
    write_table(hare.lake("benchmark_ngrams"), table)
    hare.publish("benchmark_ngrams", "benchmark_ngrams", partitioned=False)
    per_n = Counter(table["n"].to_pylist())
    return dg.MaterializeResult(metadata={
        **table_metadata(table, ["n", "hash", "benchmark", "item_id", "ngram"]),
        "items_per_benchmark": dg.MetadataValue.json(per_benchmark),
        "ngrams_per_n": dg.MetadataValue.json({str(k): v for k, v in sorted(per_n.items())}),
    })


def decontaminated_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg = settings.decontamination
    index, explain = index_from_table(read_table(hare.lake("benchmark_ngrams")))
    index = prepare_index(index)  # sorted arrays + membership bitmaps, built once for every batch
    tokenizer = process_tokenizer()
    # A Ray task holds one CPU: its n-gram threads and tokenizer stay on it (same results either way).
    threads = 1 if settings.compute.kind == "ray" else None
    reasons: Counter[str] = Counter()
    rows_in = 0
    with staged(ParquetSink(hare.lake("decontaminated_documents"), MIX_SCHEMA),
                ParquetSink(hare.lake("decontamination_rejections"), REMOVED_SCHEMA)) as (kept_sink, rej_sink), \
            duckdb.connect() as con:
        for asset, part in INPUTS:
            limits, spec = cfg.length[part], cfg.ngram[part]
            glob = parquet_glob(hare.root, asset, partitioned=False)
            weight = "source_weight" if part == "d1" else "NULL::DOUBLE"
            mix_part = "'d1'" if part == "d1" else "mix_part"
            reader = con.execute(f"""
                SELECT id, source, category, part, text, meta, {mix_part} AS mix_part, {weight} AS source_weight
                FROM read_parquet({quote_literal(glob)}) ORDER BY id""").fetch_record_batch(BATCH)
            seen: deque[pa.RecordBatch] = deque()  # the batches in flight, met again with their scores

            def texts(reader=reader, seen=seen):
                for batch in reader:
                    seen.append(batch)
                    yield batch.column("text")

            for tokens, rates in map_batches(settings.compute, check_texts, texts(),
                                             shared={"index": index, "spec": spec, "threads": threads}):
                docs = seen.popleft().to_pylist()
                rows_in += len(docs)
                kept, rejected = [], []
                explained = explain.lookup([r.first_match for r in rates])
                for doc, n_tok, r, (bench, item, gram) in zip(docs, tokens, rates, explained):
                    why = removal(n_tok, r.rate, limits.min_tokens, limits.max_tokens, cfg.max_repetition_rate)
                    if why is None:
                        kept.append({**doc, "tokens": n_tok, "repetition_rate": r.rate, "benchmark": bench,
                                     "item_id": item})
                        continue
                    reasons[why.reason] += 1
                    rejected.append({**doc, **why.columns("decontamination"), "tokens": n_tok,
                                     "repetition_rate": r.rate, "ngram_n": r.n, "benchmark": bench,
                                     "item_id": item, "example_ngram": gram})
                kept_sink.write_rows(kept)
                rej_sink.write_rows(rejected)
            context.log.info(f"{asset}: checked; {kept_sink.rows} kept and {rej_sink.rows} removed so far")
    for name in ("decontaminated_documents", "decontamination_rejections"):
        hare.publish(name, name, partitioned=False)
    removed = read_table(hare.lake("decontamination_rejections"))
    card = decontaminated_card(settings, read_table(hare.lake("decontaminated_documents"), [
        "mix_part", "source", "tokens", "benchmark", "item_id", "repetition_rate"]), removed, rows_in, reasons)
    card_path = write_card(card, cards_dir(hare.root, "decontaminated_documents"))
    return dg.MaterializeResult(
        metadata={
            **card_metadata(card, card_path),
            **table_metadata(removed if removed.num_rows else read_table(hare.lake("decontaminated_documents")),
                             ["id", "mix_part", "reason", "repetition_rate", "benchmark", "item_id", "example_ngram"]
                             if removed.num_rows else ["id", "mix_part", "tokens"]),
            "dagster/row_count": kept_sink.rows,
            "rows_in": rows_in,
            "removed_by_reason": dg.MetadataValue.json(dict(reasons)),
            "tokenizer_sha256": tokenizer.sha256,
        },
        check_results=[conservation_result(rows_in, kept_sink.rows, reasons)],
    )


def report_rows(kept: pa.Table, removed: pa.Table, benchmarks: list[str]) -> list[dict]:
    """Per part x benchmark (every document is checked against every benchmark).

    A document counts for the benchmark of its first matched n-gram: `with_overlap` documents share at
    least one n-gram with it, `removed` of them were removed for overlap, `rate_histogram` bins their
    repetition rates (10 bins over 0..1, kept and removed alike, so near misses show), `top_items` are
    the benchmark items most often matched, as [item, documents, removed].
    """
    cols = ["mix_part", "benchmark", "item_id", "repetition_rate"]
    removed_for_overlap = removed.filter(pc.equal(removed["reason"], BENCHMARK_OVERLAP)).select(cols)
    overlap = pa.concat_tables([
        kept.select(cols).append_column("removed", pa.array([False] * kept.num_rows, pa.bool_())),
        removed_for_overlap.append_column("removed", pa.array([True] * removed_for_overlap.num_rows, pa.bool_()))])
    checked = Counter(kept["mix_part"].to_pylist()) + Counter(removed["mix_part"].to_pylist())
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in overlap.filter(pc.is_valid(overlap["benchmark"])).to_pylist():
        groups[(r["mix_part"], r["benchmark"])].append(r)
    rows = []
    for part in sorted(checked):
        for bench in benchmarks:
            hits = groups.get((part, bench), [])
            hist, _ = np.histogram([h["repetition_rate"] for h in hits], bins=HIST_BINS)
            items = Counter(h["item_id"] for h in hits)
            items_removed = Counter(h["item_id"] for h in hits if h["removed"])
            n_removed = sum(items_removed.values())
            rows.append({
                "part": part, "benchmark": bench, "documents_checked": checked[part], "with_overlap": len(hits),
                "removed": n_removed, "removed_share": n_removed / checked[part] if checked[part] else 0.0,
                "max_rate": max((h["repetition_rate"] for h in hits), default=0.0),
                "rate_histogram": json.dumps(hist.tolist()),
                "top_items": json.dumps([[i, c, items_removed[i]] for i, c in items.most_common(5)]),
            })
    return rows


def decontaminated_card(settings: Settings, kept: pa.Table, removed: pa.Table, rows_in: int, reasons: Counter):
    """The dataset card of decontaminated_documents: the rule, the counts and the per part x benchmark report."""
    cfg = settings.decontamination
    composition = {"sources": {}}
    for r in kept.group_by(["mix_part", "source"]).aggregate([("tokens", "sum"), ("tokens", "count")]).to_pylist():
        composition["sources"][f"{r['mix_part']}/{r['source']}"] = {"documents": r["tokens_count"],
                                                                    "tokens": r["tokens_sum"] or 0}
    rows = license_rows(composition, source_provenance(settings.sources))
    ngrams = ", ".join(f"{part} {n if isinstance(n, int) else f'{n[0]}-{n[1]}'}" for part, n in cfg.ngram.items())
    limits = ", ".join(f"{part} {lim.min_tokens}-{lim.max_tokens:,}" for part, lim in cfg.length.items())
    report = [r for r in report_rows(kept, removed, [b.name for b in settings.benchmarks]) if r["with_overlap"]]
    built = ("Every D1 document, D2 document, D3 sample and chat conversation (part chat) is tokenized with the "
             "Mistral v1 tokenizer and checked "
             f"against its part's length limits ({limits} tokens), then its repetition rate (the share of its word "
             "n-gram positions whose n-gram occurs in any item of any split of the benchmarks "
             f"{', '.join(b.name for b in settings.benchmarks)}; N per part: {ngrams}) is computed; a document whose "
             f"rate is above {cfg.max_repetition_rate} is removed (to `decontamination_rejections`, with the "
             "matched benchmark, item and an example n-gram).")
    counts = (f"{rows_in:,} documents checked, {kept.num_rows:,} kept; removed by reason: "
              + (", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items())) or "none") + ".")
    report_md = markdown_table(report, ["part", "benchmark", "documents_checked", "with_overlap", "removed",
                                        "removed_share", "max_rate", "top_items"]) if report else \
        "No document shares an n-gram with a benchmark."
    return dataset_card(name="HARE decontaminated documents", rows=kept.num_rows,
                        licenses=[r["license"] for r in rows], source_rows=rows,
                        summary=("D1, D2, D3 and the chat conversations after decontamination against the six "
                                 "benchmarks: what the mix samples "
                                 "from, with each document's part, Mistral v1 token count and repetition rate."),
                        sections=[("How it was built", built), ("Counts", counts),
                                  ("Decontamination report (per part x benchmark with overlap)", report_md)])


def contamination_report(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    kept = read_table(hare.lake("decontaminated_documents"), columns=["mix_part", "benchmark", "item_id",
                                                                       "repetition_rate"])
    removed = read_table(hare.lake("decontamination_rejections"))
    rows = report_rows(kept, removed, [b.name for b in hare.settings().benchmarks])
    table = pa.Table.from_pylist(rows)
    write_table(hare.lake("contamination_report"), table)
    hare.publish("contamination_report", "contamination_report", partitioned=False)
    return dg.MaterializeResult(metadata={
        **table_metadata(table, n=len(rows)),
        "report": dg.MetadataValue.md(markdown_table(
            [r for r in rows if r["with_overlap"]] or rows[:1],
            ["part", "benchmark", "documents_checked", "with_overlap", "removed", "removed_share", "max_rate",
             "rate_histogram", "top_items"])),
        "removed_per_part_and_benchmark": dg.MetadataValue.json(
            {f"{r['part']}/{r['benchmark']}": r["removed"] for r in rows if r["removed"]}),
    })


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    cfg = settings.decontamination
    names = [b.name for b in settings.benchmarks]
    ngrams = ", ".join(f"{part} {n if isinstance(n, int) else f'{n[0]}-{n[1]}'}" for part, n in cfg.ngram.items())
    limits = ", ".join(f"{part} {lim.min_tokens}-{lim.max_tokens:,}" for part, lim in cfg.length.items())
    return [
        asset(
            name="benchmark_ngrams",
            group_name="decontamination",
            config=[settings.benchmarks, cfg.ngram, settings.sample_corpus],
            kinds={"parquet"},
            description=(f"The n-gram index of the {len(names)} configured benchmarks ({', '.join(names)}; all "
                         "splits, all samples): normalized tokens (lowercase, punctuation stripped), 64-bit n-gram "
                         f"hashes for every n the decontamination config uses ({ngrams}), each with its benchmark, "
                         "item id and the n-gram itself so a hit can be explained."),
        )(benchmark_ngrams),
        asset(
            name="decontaminated_documents",
            group_name="decontamination",
            deps=["benchmark_ngrams", "d1_documents", "d2_documents", "d3_samples", "chat_sft_samples"],
            config=[cfg, names, source_provenance(settings.sources)],
            check_specs=[conservation_spec("decontaminated_documents",
                                          "D1 documents, D2 documents, D3 samples and chat conversations")],
            kinds={"parquet"},
            description=("Every document entering the mix (D1, D2, D3) and every chat fine-tune conversation (part "
                         "chat, its turns' text): first the length limits per part in Mistral "
                         f"v1 tokens ({limits}), then the repetition rate = share of the document's n-grams found in "
                         f"the benchmark index (N per part: {ngrams}); a document above the max rate "
                         f"({cfg.max_repetition_rate}) is removed. Removed rows keep the matched benchmark, item id, "
                         "rate and an example n-gram."),
        )(decontaminated_documents),
        asset(
            name="contamination_report",
            group_name="decontamination",
            deps=["decontaminated_documents"],
            config=[names],
            kinds={"parquet", "duckdb"},
            description=(f"Per mix part x benchmark ({', '.join(names)}): documents checked, documents sharing "
                         "n-grams with the benchmark, removed for overlap, the histogram of their repetition rates "
                         "(10 bins over 0..1) and the most matched benchmark items."),
        )(contamination_report),
    ]
