"""Reads one configured source into document rows, in bounded batches.

Formats: JSONL (plain, .gz, .zst), Parquet and Hugging Face datasets (`hf://org/name`, optional
`?split=...&config=...`). A malformed record (invalid UTF-8, bad JSON, missing or non-text text
field, a text with lone surrogate escapes) becomes a quarantine row with its file and line; it
never stops the source.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from hare_assets.core.hf import parse_hf_uri
from hare_assets.core.lake import stable_id
from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import Source

_SURROGATE = re.compile(r"[\ud800-\udfff]")  # json.loads joins valid pairs: any left is lone


class SourceError(RuntimeError):
    """The source cannot be read at all (no files, unreadable file, missing extra)."""


@dataclass(frozen=True)
class Quarantined:
    """A record that cannot become a document, where it was read and why."""

    file: str
    line: int
    rejection: Rejection

    def row(self, source: str) -> dict:
        """Its raw_quarantine row (the detail holds the start of the raw record)."""
        return {"source": source, "file": self.file, "line": self.line, "reason": self.rejection.reason,
                "raw": self.rejection.detail}


def source_files(source: Source) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(source.uri, recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(f"source {source.name}: no files match uri {source.uri!r}")
    return files


def _open_text_lines(path: Path) -> Iterator[bytes]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            yield from f
    elif path.name.endswith(".zst"):
        import zstandard

        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as z:
            yield from io.BufferedReader(z)
    else:
        with open(path, "rb") as f:
            yield from f


def _jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed object | Rejection) for each non-blank line."""
    for lineno, raw in enumerate(_open_text_lines(path), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield lineno, Rejection("invalid_utf8", f"{e}: {raw[:200]!r}")
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, Rejection("bad_json", f"{e.msg} at column {e.colno}: {line[:200]}")


def _parquet_records(path: Path, batch_rows: int) -> Iterator[tuple[int, object]]:
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def _hf_records(uri: str) -> Iterator[tuple[str, int, object]]:
    try:
        import datasets
    except ImportError as e:
        raise SourceError(f"{uri}: reading hf:// sources needs the 'hf' extra (pip install 'hare-platform[hf]')") from e
    name, q = parse_hf_uri(uri)
    ds = datasets.load_dataset(name, q.get("config", [None])[0], split=q.get("split", ["train"])[0], streaming=True)
    for i, rec in enumerate(ds, start=1):
        yield uri, i, rec


def iter_records(source: Source, batch_rows: int) -> Iterator[tuple[str, int, object]]:
    """(file, line or row, record | Rejection) over every file of the source, in file order."""
    if source.format == "hf":
        yield from _hf_records(source.uri)
        return
    for path in source_files(source):
        records = _parquet_records(path, batch_rows) if source.format == "parquet" else _jsonl_records(path)
        for line, rec in records:
            yield str(path), line, rec


def to_document(source: Source, file: str, line: int, rec: object, root: str) -> dict | Rejection:
    if isinstance(rec, Rejection):
        return rec
    if not isinstance(rec, dict):
        return Rejection("not_an_object", json.dumps(rec, default=str)[:200])
    value = rec.get(source.text_field)
    if value is None:
        return Rejection("missing_text_field",
                         f"no {source.text_field!r} field: {json.dumps(rec, default=str)[:200]}")
    if isinstance(value, (list, dict)):  # structured records (chat turns) travel as JSON text
        value = json.dumps(value, ensure_ascii=False)
    elif not isinstance(value, str):
        return Rejection("text_field_not_text", f"{source.text_field}={value!r}"[:200])
    if not value.isascii() and _SURROGATE.search(value):  # a JSON "\\ud800" escape: not encodable text
        return Rejection("invalid_surrogates", f"{source.text_field} holds a lone surrogate: "
                         f"{value[:200].encode('utf-8', 'backslashreplace').decode()}")
    rel = str(Path(file).relative_to(root)) if file.startswith(root) else file
    meta = {k: v for k, v in rec.items() if k != source.text_field}
    meta["_file"], meta["_line"] = rel, line
    meta_json = json.dumps(meta, ensure_ascii=False, default=str)
    if _SURROGATE.search(meta_json):  # other fields: escaped, not lost
        meta_json = json.dumps(meta, default=str)
    return {
        "id": f"{source.name}-{stable_id(source.name, rel, line)}",
        "source": source.name,
        "category": source.category,
        "part": source.part,
        "text": value,
        "meta": meta_json,
    }


def glob_root(source: Source) -> str:
    """The fixed folder before the first wildcard: ids stay stable if the tree moves."""
    head = source.uri.split("*")[0].split("?")[0]
    return head if head.endswith("/") else str(Path(head).parent) + "/"


def read_source(source: Source, batch_rows: int) -> Iterator[tuple[list[dict], list[Quarantined]]]:
    """Batches of (good document rows, quarantined records)."""
    root = glob_root(source)
    good: list[dict] = []
    bad: list[Quarantined] = []
    for file, line, rec in iter_records(source, batch_rows):
        doc = to_document(source, file, line, rec, root)
        if isinstance(doc, Rejection):
            bad.append(Quarantined(file, line, doc))
        else:
            good.append(doc)
        if len(good) >= batch_rows:
            yield good, bad
            good, bad = [], []
    if good or bad:
        yield good, bad
