"""cleaned_documents: the per-source half of D1 (rules + MinHash signatures); see dedup/ for the rest."""


import json
from collections import Counter

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from ..dedup.minhash import band_keys, lsh_params, normalized_text_hash, signatures
from ..lake import DOCUMENT_SCHEMA, ParquetSink, head
from ..meta import code_version, column_lineage, conservation_result, conservation_spec, table_metadata
from ..resources import HareResource
from ..settings import Settings
from .rules import clean_batch, rule_set_for

CLEANED_SCHEMA = DOCUMENT_SCHEMA.append(pa.field("source_weight", pa.float64())) \
    .append(pa.field("text_hash", pa.int64())).append(pa.field("signals", pa.string()))
REJECTION_SCHEMA = DOCUMENT_SCHEMA.append(pa.field("stage", pa.string())) \
    .append(pa.field("reason", pa.string())).append(pa.field("detail", pa.string()))
SIGNATURE_SCHEMA = pa.schema([("id", pa.string()), ("band", pa.int16()), ("key", pa.int64())])


def d1_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([s.name for s in settings.d1_sources])


def rejection_row(doc: dict, stage: str, reason: str, detail: str = "") -> dict:
    return {**{k: doc[k] for k in DOCUMENT_SCHEMA.names}, "stage": stage, "reason": reason, "detail": detail}


def build_cleaned_documents(settings: Settings) -> dg.AssetsDefinition:
    partitions = d1_partitions(settings)

    @dg.asset(
        name="cleaned_documents",
        group_name="d1",
        partitions_def=partitions,
        deps=[dg.AssetDep("raw_documents", partition_mapping=dg.StaticPartitionMapping(
            {k: k for k in partitions.get_partition_keys()}))],
        code_version=code_version("cleaning", "dedup", "lake.py"),
        check_specs=[conservation_spec("cleaned_documents", "raw documents of the source")],
        kinds={"parquet", "duckdb"},
        description=("Per-source D1 cleaning: Unicode normalization, PII replaced by typed placeholders, web "
                     "links removed, semantically incomplete / low-quality samples dropped, English only "
                     "(fastText lid.176), with per-category rule sets (code, math, prose). Stores each "
                     "document's signals and its MinHash LSH band keys for the global dedup in d1_documents. "
                     "Drops go to d1_rejections with stage=cleaning and the rule as reason."),
    )
    def cleaned_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        source = settings.source(context.partition_key)
        bands, rows = lsh_params(settings.dedup.jaccard_threshold, settings.dedup.num_perm)
        reasons: Counter[str] = Counter()
        edits: Counter[str] = Counter()
        seen = 0
        in_dir = hare.lake("raw_documents", source.name)
        with ParquetSink(hare.lake("cleaned_documents", source.name), CLEANED_SCHEMA) as kept_sink, \
                ParquetSink(hare.lake("d1_rejections", f"cleaning-{source.name}"), REJECTION_SCHEMA) as rej_sink, \
                ParquetSink(hare.lake("minhash_signatures", source.name), SIGNATURE_SCHEMA) as sig_sink:
            for path in sorted(in_dir.glob("*.parquet")):
                for batch in pq.ParquetFile(path).iter_batches(batch_size=settings.ingestion.batch_rows):
                    docs = batch.to_pylist()
                    seen += len(docs)
                    verdicts = clean_batch([d["text"] for d in docs], [d["category"] for d in docs], settings.cleaning)
                    kept, rejected = [], []
                    for doc, v in zip(docs, verdicts):
                        edits.update(v.edits)
                        signals = json.dumps(v.signals, sort_keys=True)
                        if v.keep:
                            kept.append({**doc, "text": v.text, "source_weight": source.weight,
                                         "text_hash": normalized_text_hash(v.text), "signals": signals})
                        else:
                            reasons[v.reason] += 1
                            rejected.append(rejection_row(doc, "cleaning", v.reason, signals))
                    kept_sink.write_rows(kept)
                    rej_sink.write_rows(rejected)
                    if kept:
                        sigs = signatures([d["text"] for d in kept], settings.dedup.shingle_words,
                                          settings.dedup.num_perm, settings.dedup.seed)
                        keys = band_keys(sigs, bands, rows)
                        sig_sink.write_table(pa.table({
                            "id": pa.array([d["id"] for d in kept for _ in range(bands)]),
                            "band": pa.array(list(range(bands)) * len(kept), pa.int16()),
                            "key": pa.array(keys.reshape(-1), pa.int64()),
                        }))
        for name in ("cleaned_documents", "d1_rejections"):
            hare.publish(name, name, partitioned=True)
        preview = head(hare.lake("cleaned_documents", source.name))
        return dg.MaterializeResult(
            metadata={
                **table_metadata(preview, ["id", "text"]),
                "dagster/column_lineage": column_lineage("raw_documents", list(DOCUMENT_SCHEMA.names)),
                "dagster/row_count": kept_sink.rows,
                "rows_in": seen,
                "rejected_by_rule": dg.MetadataValue.json(dict(reasons)),
                "edits": dg.MetadataValue.json(dict(edits)),
                "rule_set": ", ".join(rule_set_for(source.category, settings.cleaning)),
                "lsh_bands_x_rows": f"{bands} x {rows}",
            },
            check_results=[conservation_result(seen, kept_sink.rows, reasons)],
        )

    return cleaned_documents
