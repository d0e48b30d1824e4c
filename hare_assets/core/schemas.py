"""The row schemas several stages share: a document, a cleaned D1 document, a rejected row."""

from __future__ import annotations

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
