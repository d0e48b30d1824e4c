"""training_mix and tokenized_shards: one partition per training run (stage or ablation arm)."""


import json

import dagster as dg
import duckdb
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.cards import cards_dir, dataset_card, write_card
from hare_assets.core.compute import map_batches
from hare_assets.core.lake import (
    ParquetSink,
    StagedDir,
    parquet_glob,
    read_table,
    staged,
    tree_hash,
    write_table,
)
from hare_assets.core.meta import card_metadata, markdown_table, table_metadata
from hare_assets.core.packing import pack, pack_samples, write_shards
from hare_assets.core.partitions import run_partitions
from hare_assets.core.provenance import (
    LICENSE_COLUMNS,
    license_rows,
    license_shares,
    manifest_sources,
    source_provenance,
)
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Settings
from hare_assets.core.warehouse import quote_literal
from hare_assets.mixture.sampling import mix_composition, plan_mix, report_table
from model_training.chat_template import chat_tokenizer, render_sample
from model_training.tokenizer import encode_texts, process_tokenizer

TEXT_BATCH = 256
SHARD_MANIFEST_SCHEMA = pa.schema([("run", pa.string()), ("total_sequences", pa.int64()), ("total_tokens", pa.int64()),
                                   ("dropped_tail_tokens", pa.int64()), ("seq_len", pa.int64()),
                                   ("shards", pa.int64()), ("path", pa.string()),
                                   ("too_long_samples", pa.int64()), ("label_tokens", pa.int64())])  # chat runs


def with_run(table: pa.Table, run: str) -> pa.Table:
    """Partitions share one warehouse view, so each row names its run."""
    return table.append_column("run", pa.array([run] * table.num_rows, pa.string()))


def mix_card(run: str, parts: list[str], weights: dict, report: dict, licenses: list[dict], rows: int):
    """The dataset card of one run's training_mix: the sampling rule, the realized mix and the licenses."""
    built = (f"Decontaminated documents of the parts {', '.join(parts)} are sampled toward a budget of "
             f"{report['token_budget']:,} tokens, each part to its weight ("
             + ", ".join(f"{p} {weights[p]:g}" for p in parts) + "; the paper's Figure 2b), D1 split over its sources "
             "by the Table 3 weights; a part smaller than its target is repeated (epochs). Each row is one document "
             "pick (id, part, source, epoch, tokens, order: the order the packer reads).")
    mix = (f"{report['realized_tokens']:,} tokens realized. {report['note']}.\n\n"
           + markdown_table(report["rows"], ["level", "part", "source", "weight", "target_tokens", "realized_tokens",
                                             "realized_share", "documents", "epochs"])
           + ("\n\nWarnings:\n\n" + "\n".join(f"- {w}" for w in report["warnings"]) if report["warnings"] else ""))
    return dataset_card(name=f"HARE training mix ({run})", rows=rows, licenses=[r["license"] for r in licenses],
                        source_rows=licenses,
                        summary=f"The `{run}` run's training mix: which decontaminated documents it trains on, "
                                "how many times, in which order.",
                        sections=[("How it was built", built), ("The mix", mix)])


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    runs = run_partitions(settings)
    cfg = settings.mixture
    weights = ", ".join(f"{part} {w:g}" for part, w in cfg.weights.items())
    arms = "; ".join(f"{name} = {'+'.join(r.parts)}" for name, r in cfg.runs.items())
    provenance = source_provenance(settings.sources)  # licenses: in the metadata, the manifest and the cards
    templates = {name: r.template for name, r in cfg.runs.items() if r.template}

    @asset(
        group_name="mixture",
        partitions_def=runs,
        deps=["decontaminated_documents"],
        config=[cfg.weights, cfg.runs, cfg.seed, provenance],
        kinds={"parquet"},
        description=(f"Weighted sampling of the decontaminated documents to the part weights ({weights}; the "
                     "paper's Figure 2b by default, with Table 3 per-source weights inside D1) toward the run's "
                     f"token budget; parts too small are repeated (epochs) with a warning. Runs: {arms}."),
    )
    def training_mix(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        cfg = hare.settings().mixture
        run = cfg.runs[context.partition_key]
        docs = read_table(hare.lake("decontaminated_documents"), ["id", "mix_part", "source", "source_weight", "tokens"])
        docs = docs.rename_columns(["id", "part", "source", "source_weight", "tokens"])
        # A chat run's one part needs no Figure 2b weight: it normalizes away.
        weights = {"chat": 1.0} if run.template else cfg.weights
        plan, report = plan_mix(docs, weights, list(run.parts), run.token_budget, cfg.seed)
        plan = with_run(plan, context.partition_key)
        write_table(hare.lake("training_mix", context.partition_key), plan)
        write_table(hare.lake("mix_report", context.partition_key), with_run(report_table(report), context.partition_key))
        hare.publish("training_mix", "training_mix", partitioned=True)
        hare.publish("mix_report", "mix_report", partitioned=True)
        for w in report["warnings"]:
            context.log.warning(w)
        licenses = license_rows(mix_composition(plan), source_provenance(hare.settings().sources))
        card = mix_card(context.partition_key, list(run.parts), weights, report, licenses, plan.num_rows)
        card_path = write_card(card, cards_dir(hare.root, "training_mix", context.partition_key))
        return dg.MaterializeResult(metadata={
            **card_metadata(card, card_path),
            **table_metadata(plan),
            "token_budget": run.token_budget,
            "realized_vs_target": dg.MetadataValue.md(markdown_table(report["rows"])),
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in report["warnings"]) or "none"),
            "licenses": dg.MetadataValue.md(markdown_table(licenses, LICENSE_COLUMNS)),
            "license_shares": dg.MetadataValue.json(license_shares(licenses)),
            "source_licenses": dg.MetadataValue.json(manifest_sources(licenses)),
        })

    @asset(
        group_name="mixture",
        partitions_def=runs,
        deps=["training_mix", "decontaminated_documents", "chat_sft_samples"],
        config=[cfg.seq_len, cfg.shard_sequences, cfg.seed, provenance, templates],
        kinds={"numpy"},
        description=("The run's mix tokenized with the Mistral v1 tokenizer (32,000 vocab), EOS after each "
                     f"document, packed into fixed rows of {cfg.seq_len}+1 tokens ({cfg.shard_sequences:,} rows a shard), shuffled deterministically, "
                     "written as uint16 shards in datatrove's .ds/.ds.index format (DatatroveFolderDataset, "
                     "nanotron) with a JSON manifest (hare-packed-v2: tokenizer hash, counts, source mix). A chat "
                     "run (a template: " + (", ".join(f"{r} {t}" for r, t in templates.items()) or "none") + ") "
                     "renders each of its chat_sft_samples in the template instead, one conversation per row padded "
                     "with <unk>, with a loss mask on the assistant tokens and their end-of-turn (shard-NNNNN.mask)."),
    )
    def tokenized_shards(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        cfg = settings.mixture
        run = context.partition_key
        template = cfg.runs[run].template
        tokenizer = process_tokenizer()
        plan_glob = str(hare.lake("training_mix", run) / "*.parquet")
        # A chat run reads its conversations' messages; the others the documents' text.
        table, column = ("chat_sft_samples", "messages") if template else ("decontaminated_documents", "text")
        docs_glob = parquet_glob(hare.root, table, partitioned=False)
        with duckdb.connect() as con:
            reader = con.execute(f"""
                SELECT d.{column} FROM read_parquet({quote_literal(plan_glob)}) p
                JOIN read_parquet({quote_literal(docs_glob)}) d USING (id) ORDER BY p."order"
            """).fetch_record_batch(TEXT_BATCH)
            batches = (batch.column(column).to_pylist() for batch in reader)
            out = hare.lake("tokenized_shards", run)
            source_mix = mix_composition(read_table(hare.lake("training_mix", run), ["part", "source", "tokens"]))
            licenses = license_rows(source_mix, source_provenance(hare.settings().sources))
            extra = {"run": run, "tokenizer": "mistral-v1", "tokenizer_sha256": tokenizer.sha256,
                     "vocab_size": tokenizer.vocab_size, "source_mix": source_mix, "sources": manifest_sources(licenses)}
            if template:
                chat = chat_tokenizer(template)
                samples = (render_sample(chat, json.loads(m)) for messages in batches for m in messages)
                rows = pack_samples(((s.ids, s.loss_mask) for s in samples), cfg.seq_len, chat.pad_token_id,
                                    tokenizer.eos_id)
                extra["chat_template"] = template
            else:
                # Encoding runs per batch (here with local, as Ray tasks with compute: ray); packing stays in
                # this process because rows run across batch boundaries in the plan's order.
                one_core = {"num_threads": 1} if settings.compute.kind == "ray" else {}  # a Ray task holds one CPU
                rows = pack((ids for ids_batch in map_batches(settings.compute, encode_texts, batches, shared=one_core)
                             for ids in ids_batch), cfg.seq_len, tokenizer.eos_id)
            # The shards and their warehouse row are swapped in together (the previous run's stay on failure).
            with staged(StagedDir(out), ParquetSink(hare.lake("shard_manifests", run), SHARD_MANIFEST_SCHEMA)) \
                    as (shards_dir, manifest_sink):
                manifest = write_shards(shards_dir.tmp, rows, cfg.seq_len, cfg.shard_sequences, cfg.seed, extra)
                if manifest["total_sequences"] == 0:
                    raise dg.Failure(f"tokenized_shards[{run}]: the mix holds fewer than seq_len+1="
                                     f"{cfg.seq_len + 1} tokens")
                summary = {k: manifest[k] for k in ("total_sequences", "total_tokens", "dropped_tail_tokens",
                                                    "seq_len", "too_long_samples", "label_tokens") if k in manifest}
                # The warehouse's `tokenized_shards` lists each run's shards (the tokens stay in the .ds files).
                manifest_sink.write_rows([{"run": run, **summary, "shards": len(manifest["shards"]),
                                           "path": str(out)}])
        hare.publish("tokenized_shards", "shard_manifests", partitioned=True)
        return dg.MaterializeResult(
            metadata={**summary, "shards": len(manifest["shards"]), "path": dg.MetadataValue.path(str(out)),
                      "licenses": dg.MetadataValue.md(markdown_table(licenses, LICENSE_COLUMNS)),
                      "manifest": dg.MetadataValue.json(json.loads((out / "manifest.json").read_text()))},
            data_version=dg.DataVersion(tree_hash(out.iterdir())),
        )

    return [training_mix, tokenized_shards]
