"""raw_documents: one partition per configured source, streamed into the lake."""


from collections import Counter
from datetime import timedelta

import dagster as dg
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.lake import LakeFullError, ParquetSink, head, staged
from hare_assets.core.meta import (
    PartitionOutcome,
    backfill_policy,
    conservation_spec,
    materialize_partitions,
    table_metadata,
)
from hare_assets.core.resources import HareResource
from hare_assets.core.sample import ensure_sample
from hare_assets.core.schemas import DOCUMENT_SCHEMA
from hare_assets.core.settings import Settings
from hare_assets.sources.reader import ReadNotes, SourceError, read_source

QUARANTINE_SCHEMA = pa.schema([("source", pa.string()), ("file", pa.string()), ("line", pa.int64()),
                               ("reason", pa.string()), ("raw", pa.string())])


def source_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([s.name for s in settings.sources])


def build_raw_documents(settings: Settings) -> dg.AssetsDefinition:
    @asset(
        name="raw_documents",
        group_name="sources",
        partitions_def=source_partitions(settings),
        # partitions_per_run only groups backfill runs: it is not part of the code version.
        config=[settings.sources, settings.ingestion.model_dump(exclude={"partitions_per_run"}),
                settings.sample_corpus],
        backfill_policy=backfill_policy(settings.ingestion.partitions_per_run),
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=30), warn_window=timedelta(days=7)),
        check_specs=[conservation_spec("raw_documents", "records read")],
        kinds={"parquet", "duckdb"},
        description=(f"Documents of one of the {len(settings.sources)} configured sources (Table 3 sources and "
                     f"the D2/D3 open sources), streamed in batches of {settings.ingestion.batch_rows:,} records "
                     "from JSONL/.gz/.zst/JSON/Parquet/hf:// into Parquet, normalized to the document schema with stable ids. Malformed records go to `raw_quarantine` with file, "
                     "line and reason; a truncated or corrupt file keeps what was read before the break "
                     f"(ingestion.on_corrupt_file: {settings.ingestion.on_corrupt_file})."),
    )
    def raw_documents(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        ensure_sample(settings)

        def one(partition: str) -> PartitionOutcome:
            source = settings.source(partition)
            reasons: Counter[str] = Counter()
            seen = nbytes = 0
            notes = ReadNotes()
            on_corrupt = settings.ingestion.on_corrupt_file
            try:
                with staged(ParquetSink(hare.lake("raw_documents", source.name), DOCUMENT_SCHEMA),
                            ParquetSink(hare.lake("raw_quarantine", source.name), QUARANTINE_SCHEMA)) \
                        as (docs, quarantine):
                    for good, bad in read_source(source, settings.ingestion.batch_rows, notes, on_corrupt):
                        seen += len(good) + len(bad)
                        docs.write_rows(good)
                        nbytes += sum(len(d["text"].encode()) for d in good)
                        quarantine.write_rows([b.row(source.name) for b in bad])
                        reasons.update(b.rejection.reason for b in bad)
                        context.log.info(f"{source.name}: {docs.rows} documents, {quarantine.rows} quarantined so far")
                    if docs.rows == 0:
                        raise SourceError(f"source {source.name}: no readable documents in {source.uri!r} "
                                          f"({quarantine.rows} malformed records: {dict(reasons)})")
            except (SourceError, LakeFullError) as e:
                raise dg.Failure(description=str(e)) from None
            preview = head(hare.lake("raw_documents", source.name))
            if quarantine.rows:
                context.log.warning(f"{source.name}: {quarantine.rows} malformed records quarantined: {dict(reasons)}")
            for path in notes.corrupt_files:
                context.log.warning(f"{source.name}: {path} is truncated or corrupt: the records before the break "
                                    "are kept, the break is a corrupt_file row in raw_quarantine")
            metadata = {
                **table_metadata(preview, ["id", "category", "text"]),
                "dagster/row_count": docs.rows,
                "records_read": seen,
                "quarantined": quarantine.rows,
                "quarantined_by_reason": dg.MetadataValue.json(dict(reasons)),
                "text_bytes": nbytes,
                "on_corrupt_file": on_corrupt,
                "corrupt_files": dg.MetadataValue.json(notes.corrupt_files),
                "bom_files": dg.MetadataValue.json(notes.bom_files),
                "uri": source.uri,
                "category": source.category,
                "paper_weight": source.weight,
            }
            return PartitionOutcome(metadata, rows_in=seen, kept=docs.rows, rejected=reasons)

        result = materialize_partitions(context, one)
        hare.publish("raw_documents", "raw_documents", partitioned=True)
        hare.publish("raw_quarantine", "raw_quarantine", partitioned=True)
        return result

    return raw_documents


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [build_raw_documents(settings)]
