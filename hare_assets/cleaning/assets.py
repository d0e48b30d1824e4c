"""The per-source half of D1, scores once, thresholds after:

* `d1_signals`: edits + every rule signal + language score + exact hash + MinHash LSH band keys per
  document (the expensive part). Its code version depends on the code and on the few config keys
  that shape signals (`signals.SCORING_KEYS`), not on any threshold.
* `cleaned_documents`: the configured thresholds applied to the stored signals (cheap). A changed
  threshold changes only this asset's code version, so only it is stale and re-runs.

See dedup/ for the global half (d1_documents).
"""


from collections import Counter

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from hare_assets.cleaning.rules import DROP_RULES, rule_set_for
from hare_assets.cleaning.signals import (
    SIGNALS_SCHEMA,
    band_key_sink,
    filter_fingerprint,
    filter_signals,
    score_batches,
    scoring_fingerprint,
    scoring_workers,
)
from hare_assets.core.asset import asset
from hare_assets.core.lake import ParquetSink, head, parquet_files, parquet_rows, staged
from hare_assets.core.meta import (
    PartitionOutcome,
    backfill_policy,
    column_lineage,
    conservation_spec,
    markdown_table,
    materialize_partitions,
    table_metadata,
)
from hare_assets.core.minhash import lsh_params
from hare_assets.core.resources import HareResource
from hare_assets.core.schemas import CLEANED_SCHEMA, DOCUMENT_SCHEMA, REJECTION_SCHEMA
from hare_assets.core.settings import Settings


def d1_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([s.name for s in settings.d1_sources])


def _identity(partitions: dg.StaticPartitionsDefinition) -> dg.StaticPartitionMapping:
    return dg.StaticPartitionMapping({k: k for k in partitions.get_partition_keys()})


def build_d1_signals(settings: Settings) -> dg.AssetsDefinition:
    partitions = d1_partitions(settings)

    @asset(
        name="d1_signals",
        group_name="d1",
        partitions_def=partitions,
        deps=[dg.AssetDep("raw_documents", partition_mapping=_identity(partitions))],
        config=[scoring_fingerprint(settings)],
        backfill_policy=backfill_policy(settings.ingestion.partitions_per_run),
        check_specs=[conservation_spec("d1_signals", "raw documents of the source (every one is scored)")],
        kinds={"parquet", "duckdb"},
        description=("Scores once: per D1 source, every document after the edit rules (Unicode normalization, "
                     "PII replaced by typed placeholders, web links removed) with all its rule signals (words, "
                     "non-alphabetic fraction, duplicate-line fraction, terminal punctuation), its fastText "
                     "lid.176 language and score, its exact-dedup hash, and its MinHash LSH band keys (lake "
                     "folder minhash_signatures). No threshold is applied here: changing one re-runs only "
                     "cleaned_documents."),
    )
    def d1_signals(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()

        def one(partition: str) -> PartitionOutcome:
            source = settings.source(partition)
            in_dir = hare.lake("raw_documents", source.name)
            rows_in = parquet_rows(parquet_files(in_dir))
            workers = scoring_workers(settings.cleaning, rows_in)
            edits: Counter[str] = Counter()
            seconds = Counter()

            def batches():
                for path in sorted(in_dir.glob("*.parquet")):
                    yield from pq.ParquetFile(path).iter_batches(batch_size=settings.ingestion.batch_rows,
                                                                 columns=DOCUMENT_SCHEMA.names)

            with staged(ParquetSink(hare.lake("d1_signals", source.name), SIGNALS_SCHEMA),
                        band_key_sink(hare.lake("minhash_signatures", source.name))) as (sig_sink, band_sink):
                for signals, bands, stats in score_batches(batches(), settings.cleaning, settings.dedup, workers,
                                                           settings.compute):
                    sig_sink.write_table(signals)
                    band_sink.write_table(bands)
                    edits.update(stats["edits"])
                    seconds.update({"rules_and_language_id": stats["rules_s"], "minhash": stats["sketch_s"]})
            preview = head(hare.lake("d1_signals", source.name))
            bands, rows = lsh_params(settings.dedup.jaccard_threshold, settings.dedup.num_perm)
            metadata = {
                **table_metadata(preview, ["id", "words", "language", "language_score", "text"]),
                "dagster/column_lineage": column_lineage("raw_documents", list(DOCUMENT_SCHEMA.names)),
                "dagster/row_count": sig_sink.rows,
                "rows_in": rows_in,
                "edits": dg.MetadataValue.json(dict(edits)),
                "scoring_processes": workers if settings.compute.kind == "local" else "ray",
                "worker_seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in seconds.items()}),
                "lsh_bands_x_rows": f"{bands} x {rows}",
                "scoring_config": scoring_fingerprint(settings),
            }
            return PartitionOutcome(metadata, rows_in=rows_in, kept=sig_sink.rows)

        result = materialize_partitions(context, one)
        hare.publish("d1_signals", "d1_signals", partitioned=True)
        return result

    return d1_signals


def build_cleaned_documents(settings: Settings) -> dg.AssetsDefinition:
    partitions = d1_partitions(settings)
    c = settings.cleaning

    @asset(
        name="cleaned_documents",
        group_name="d1",
        partitions_def=partitions,
        deps=[dg.AssetDep("d1_signals", partition_mapping=_identity(partitions))],
        config=[filter_fingerprint(settings)],
        backfill_policy=backfill_policy(settings.ingestion.partitions_per_run),
        check_specs=[conservation_spec("cleaned_documents", "raw documents of the source")],
        kinds={"parquet", "duckdb"},
        description=(f"Thresholds after: the configured cleaning thresholds (fewer than {c.min_words} or more "
                     f"than {c.max_words:,} words, non-alphabetic fraction > {c.max_non_alpha_fraction}, duplicate "
                     f"lines > {c.max_duplicate_line_fraction}, duplicate paragraphs > "
                     f"{c.max_duplicate_paragraph_fraction}, boilerplate > {c.max_boilerplate_fraction}, "
                     f"{'incomplete ending, ' if c.require_terminal_punctuation else ''}not {c.language!r} with "
                     f"lid.176 score >= {c.language_threshold}) applied to the stored d1_signals with the "
                     "per-category rule sets (code, math, prose); nothing is recomputed. Kept documents carry their source's Table 3 weight in `source_weight`; drops go "
                     "to d1_rejections with stage=cleaning, the rule as reason and the signals as detail."),
    )
    def cleaned_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()

        def one(partition: str) -> PartitionOutcome:
            source = settings.source(partition)
            reasons: Counter[str] = Counter()
            signal_dir = hare.lake("d1_signals", source.name)
            with staged(ParquetSink(hare.lake("cleaned_documents", source.name), CLEANED_SCHEMA),
                        ParquetSink(hare.lake("d1_rejections", f"cleaning-{source.name}"), REJECTION_SCHEMA)) \
                    as (kept_sink, rej_sink):
                for path in sorted(signal_dir.glob("*.parquet")):
                    for batch in pq.ParquetFile(path).iter_batches(batch_size=settings.ingestion.batch_rows):
                        kept, rejected, why = filter_signals(pa.Table.from_batches([batch]), settings.cleaning,
                                                             source.weight)
                        kept_sink.write_table(kept)
                        rej_sink.write_table(rejected)
                        reasons.update(why)
            raw_rows = parquet_rows(parquet_files(hare.lake("raw_documents", source.name)))
            preview = head(hare.lake("cleaned_documents", source.name))
            rules = rule_set_for(source.category, settings.cleaning)
            removal = [{"rule": r, "documents": reasons.get(r, 0)} for r in rules if r in DROP_RULES]
            removal.append({"rule": "kept", "documents": kept_sink.rows})
            metadata = {
                **table_metadata(preview, ["id", "text"]),
                "dagster/column_lineage": column_lineage("d1_signals", list(DOCUMENT_SCHEMA.names)),
                "dagster/row_count": kept_sink.rows,
                "rows_in": raw_rows,
                "rejected_by_rule": dg.MetadataValue.json(dict(reasons)),
                "removals_by_rule": dg.MetadataValue.md(markdown_table(removal, ["rule", "documents"])),
                "rule_set": ", ".join(rules),
                "filter_config": filter_fingerprint(settings),
                "source_weight": source.weight,
            }
            # Raw rows of the source (not just the signal rows): nothing lost between the two steps either.
            return PartitionOutcome(metadata, rows_in=raw_rows, kept=kept_sink.rows, rejected=reasons)

        result = materialize_partitions(context, one)
        for name in ("cleaned_documents", "d1_rejections"):
            hare.publish(name, name, partitioned=True)
        return result

    return cleaned_documents


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [build_d1_signals(settings), build_cleaned_documents(settings)]
