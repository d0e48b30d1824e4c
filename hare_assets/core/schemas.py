"""The row schemas several stages share: a document, a cleaned D1 document, a rejected row."""

from __future__ import annotations

import json

import pyarrow as pa

DOCUMENT_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("category", pa.string()),
    ("part", pa.string()), ("text", pa.string()), ("meta", pa.string()),
])
# A D1 document after cleaning: the dedup stage keeps the heavier source, and joins on the exact hash.
CLEANED_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("source_weight", pa.float64()), ("text_hash", pa.int64())])
# What every rejection table adds to the row it rejects (see core.rejection.Rejection).
REJECTION_FIELDS = [("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string())]
REJECTION_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, *REJECTION_FIELDS])


def with_rejection_fields(schema: pa.Schema) -> pa.Schema:
    """`schema` plus stage, reason and detail (the columns a rejection table adds), without repeats."""
    return pa.schema([*schema, *(f for f in REJECTION_FIELDS if f[0] not in schema.names)])


# What each column means, by name (a name means the same thing in every table that has it). The
# column schema in each materialization's metadata (core.meta.table_metadata) carries these, so the
# UI's column tables say what a column holds, not only its type.
COLUMN_DESCRIPTIONS: dict[str, str] = {
    # documents
    "id": "Document id: `<source>-<sha1(source, file, line)>`, stable across runs",
    "source": "Configured source the document was read from (the raw_documents partition)",
    "category": "The source's category (Table 3), which picks the cleaning rule set (code, math, prose)",
    "part": "Paper part the row belongs to (d1, d2, d3; in the mix: the mix part)",
    "text": "Document text (after the edit rules from d1_signals on)",
    "meta": "The source record's other fields, as JSON",
    "mix_part": "Part of the final mix (Figure 2b): d1, d2_synthetic, d2_open, d3_restruct, d3_open",
    "source_weight": "The source's Table 3 weight; dedup keeps the copy from the heaviest source",
    "text_hash": "64-bit hash of the normalized text (exact dedup joins on it)",
    # rejections (core.rejection.Rejection)
    "stage": "Stage that rejected the row (cleaning, dedup, synthesis, decontamination, ...)",
    "reason": "Why the row was rejected: the rule or check that failed",
    "detail": "What the rule measured, as JSON (the signal values, the matched duplicate, ...)",
    # raw_quarantine
    "file": "Input file of the malformed record",
    "line": "Line (record number) of the malformed record in its file",
    "raw": "The start of the malformed record as read, or what was wrong with it",
    # d1_signals
    "edits": "What the edit rules changed (Unicode normalization, PII placeholders, removed links), as JSON",
    "scored": "Whether the document was scored (false: longer than cleaning.max_scored_chars, rejected as oversized)",
    "chars": "Characters in the edited text",
    "words": "Words in the edited text",
    "non_alpha_fraction": "Share of non-alphabetic, non-space characters",
    "duplicate_line_fraction": "Share of lines that repeat an earlier line",
    "duplicate_paragraph_fraction": "Share of paragraphs that repeat an earlier paragraph",
    "boilerplate_fraction": "Share of lines that are C4-style boilerplate (navigation, cookie / legal notices, calls to action)",
    "terminal_punctuation": "Whether the document ends with terminal punctuation",
    "language": "fastText lid.176 language of the text",
    "language_score": "fastText lid.176 probability of `language`",
    "band": "MinHash LSH band number",
    "key": "Hash of the band's MinHash values (documents sharing a key are candidate near-duplicates)",
    # topics and synthesis
    "seed_category": "D2 category the seed source feeds",
    "cluster": "Topic cluster number",
    "cluster_label": "Topic cluster label (its top terms)",
    "cluster_terms": "Top terms of the topic cluster",
    "excluded": "Whether the cluster is excluded from seeding",
    "x": "2-D map coordinate of the document's embedding",
    "y": "2-D map coordinate of the document's embedding",
    "seed_id": "Synthesis seed id: `seed-<document id>`",
    "doc_id": "D1 document the seed comes from",
    "topic": "Topic (cluster label) of the seed",
    "seed_text": "The seed document's opening text, quoted in the prompt",
    "prompt": "The prompt sent to the generation backend",
    "model": "The model: the one that wrote a generated text, or the one scored on the leaderboard",
    "origin": "Where a leaderboard row comes from: a table of the paper or this platform's runs",
    # decontamination
    "tokens": "Mistral v1 tokens of the document",
    "repetition_rate": "Share of the document's n-gram positions found in a benchmark (removed above the limit)",
    "benchmark": "Benchmark (of the first matched n-gram, or being scored)",
    "item_id": "Benchmark item of the first matched n-gram",
    "ngram_n": "N of the n-gram size that gave the repetition rate",
    "example_ngram": "A matched n-gram's words",
    "n": "N-gram size (words)",
    "hash": "64-bit hash of the n-gram's normalized words",
    "ngram": "The n-gram's words",
    "documents_checked": "Documents of the part checked against the benchmarks",
    "with_overlap": "Documents whose first matched n-gram comes from this benchmark",
    "removed": "Documents removed by decontamination",
    "removed_share": "Removed documents / documents checked",
    "removed_pct": "Removed documents in % of documents checked",
    "removed_by_benchmark": "Removed documents per benchmark",
    "max_rate": "Highest repetition rate seen",
    "rate_histogram": "Repetition rates of the overlapping documents in ten bins of 0.1, as JSON",
    "top_items": "Most matched benchmark items: [item, documents, removed], as JSON",
    # mix
    "run": "Training run (the partition of training_mix and later)",
    "epoch": "Pass over the part's documents this row belongs to (parts too small repeat)",
    "order": "Position of the document in the run's token stream",
    "level": "`part` or `source` (a D1 source inside its part)",
    "weight": "Figure 2b part weight, or the Table 3 source weight",
    "target_tokens": "Tokens the weights ask for in the run's budget",
    "target_share": "Target share of the run's token budget",
    "available_tokens": "Tokens available after decontamination",
    "available_documents": "Documents available after decontamination",
    "realized_tokens": "Tokens the mix took",
    "realized_share": "Share of the tokens the run actually realized",
    "documents": "Documents (plan rows; a repeated document counts each time)",
    "epochs": "Realized / available tokens (0 when nothing is available)",
    "shards": "Shard files written",
    "path": "Folder of the written files",
    # scores
    "value": "Score (0-1) on the benchmark's v1 metric",
    "stderr": "Standard error of the score reported by lm-eval",
    "metric": "The benchmark's Open LLM Leaderboard v1 metric (acc, acc_norm, mc2, strict-match)",
    "split": "Benchmark split scored",
    "n_items": "Benchmark items scored",
    "n_items_in_data": "Items of the split in the benchmark data given",
    "n_items_full": "Items of the split the Open LLM Leaderboard v1 scored",
    "subset": "Fewer items scored than the full split: not comparable with published scores",
    "few_shot": "Few-shot examples in each prompt",
    "v1_few_shot": "Few-shot examples of the v1 protocol",
    "data": "Where the benchmark items came from",
    "backend": "lm-eval model backend (hf or vllm)",
    "lm_eval_task": "lm-eval task (or the number of subject tasks)",
    "ablation_arm": "Whether the run is a data-ablation arm",
    "mix_parts": "Mix parts the run was trained on",
    "score": "Score in %",
    "gain_over_d1": "Points over the ablation arm with the fewest mix parts (D1 only)",
    "gain_stderr": "Standard error of the gain in points (the two arms as independent)",
    "gain_within_error": "The gain's 95% interval includes zero: too small to call",
    "rank": "Rank among comparable scores (full splits, v1 shots); empty when not comparable",
    "average_stderr": "Standard error of the average in points",
    "items_scored": "Benchmark items scored over the six benchmarks",
    "items_full": "Items of the six splits the v1 leaderboard scored",
    "note": "Why a row is not ranked",
    "average": "Mean of the six benchmark scores in %",
    "n_original": "Benchmark items scored as released",
    "n_rephrased": "Items with a rephrased twin",
    "ngram_acc_original": "N-gram accuracy on the original items (memorization signal)",
    "ngram_acc_rephrased": "N-gram accuracy on the rephrased twins",
    "delta": "Original minus rephrased n-gram accuracy (leakage signal)",
    "delta_pct": "`delta` in points",
    "n_in_split": "Items of the split in the benchmark data",
    "n_scored_original": "Original items long enough for an n-gram",
    "n_scored_rephrased": "Rephrased items long enough for an n-gram",
    "delta_stderr": "Standard error of `delta` (the two sets as independent samples)",
    "delta_within_error": "The 95% interval of `delta` includes zero: too small to call",
    "rephrased_by": "Where the rephrased twins came from",
    "questions_reworded": "Share of twins whose question text differs from the original",
    # warehouse summaries
    "raw_documents": "Documents read from the source",
    "raw_bytes": "UTF-8 bytes of the raw documents' text",
    "quarantined": "Malformed records quarantined",
    "d1_documents": "Documents kept after cleaning and dedup",
    "d1_bytes": "UTF-8 bytes of the kept documents' text",
}


def column_description(name: str) -> str | None:
    return COLUMN_DESCRIPTIONS.get(name)


def record_from_document(text: str, meta: str, text_field: str) -> dict:
    """A source record back from its raw_documents row: ingestion moved `text_field` out of the record
    (JSON-encoding structured values such as chat turns) and kept the other fields in `meta`."""
    record = {k: v for k, v in json.loads(meta).items() if k not in ("_file", "_line")}
    return {**record, text_field: text}
