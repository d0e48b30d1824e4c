"""Reads one configured source into document rows, in bounded batches.

Formats: JSONL (plain, .gz, .zst), JSON (an array of records, or one record), Parquet and Hugging Face
datasets (`hf://org/name`, optional `?split=...&config=...`). A malformed record (invalid UTF-8, bad
JSON, missing or non-text text field, a text with lone surrogate escapes) becomes a quarantine row with
its file and line; it never stops the source. A UTF-8 byte-order mark at the start of a file is skipped
(and noted). A file that breaks part-way (a truncated .gz/.zst, a corrupt Parquet page, JSON that stops)
keeps the records read before the break and becomes one `corrupt_file` quarantine row at the break, or
fails the source, by `ingestion.on_corrupt_file`. For `json`, "line" is the record's index in the array.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from hare_assets.core.hf import parse_hf_uri
from hare_assets.core.lake import stable_id
from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import Source

_SURROGATE = re.compile(r"[\ud800-\udfff]")  # json.loads joins valid pairs: any left is lone
BOM = codecs.BOM_UTF8
CHUNK = 1 << 20
# What a file that stops or breaks part-way raises while it is read (not: missing, unreadable).
CORRUPT_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError, pa.ArrowException,
                  UnicodeDecodeError)


class SourceError(RuntimeError):
    """The source cannot be read at all (no files, unreadable file, missing extra)."""


class CorruptFile(Exception):
    """A file broke part-way: `where` says after what (line, record or byte offset)."""

    def __init__(self, where: str, cause: Exception | str):
        super().__init__(f"{where}: {cause}")
        self.where = where


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


@dataclass
class ReadNotes:
    """What the reader noticed about whole files, for the source's metadata."""

    bom_files: list[str] = field(default_factory=list)
    corrupt_files: list[str] = field(default_factory=list)


def source_files(source: Source) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(source.uri, recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(f"source {source.name}: no files match uri {source.uri!r}")
    return files


def _zstd_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Decompressed chunks of every frame; a stream that stops inside a frame raises EOFError
    (zstandard's stream reader would end quietly)."""
    dctx = zstandard.ZstdDecompressor()
    frame, in_frame = dctx.decompressobj(), False
    while chunk := f.read(CHUNK):
        while chunk:
            in_frame = True
            yield frame.decompress(chunk)
            chunk = b""
            if frame.eof:
                chunk, frame, in_frame = frame.unused_data, dctx.decompressobj(), False
    if in_frame:
        raise EOFError("zstd stream ended inside a frame (truncated file)")


def _chunks(path: Path, f: BinaryIO) -> Iterator[bytes]:
    if path.name.endswith(".gz"):
        with gzip.GzipFile(fileobj=f) as g:
            # read1: what decompressed before a truncation is still returned (read() would drop it)
            while chunk := g.read1(CHUNK):
                yield chunk
    elif path.name.endswith(".zst"):
        yield from _zstd_chunks(f)
    else:
        while chunk := f.read(CHUNK):
            yield chunk


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []
    for chunk in chunks:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            pending.append(chunk)
            continue
        yield b"".join([*pending, parts[0]]) + b"\n"
        yield from (p + b"\n" for p in parts[1:-1])
        pending = [parts[-1]] if parts[-1] else []
    if pending:
        yield b"".join(pending)


def _jsonl_records(path: Path, notes: ReadNotes) -> Iterator[tuple[int, object]]:
    """(line number, parsed object | Rejection) for each non-blank line; CorruptFile at a break."""
    lineno, offset = 0, 0
    with open(path, "rb") as f:
        try:
            for lineno, raw in enumerate(_lines(_chunks(path, f)), start=1):
                offset += len(raw)
                if lineno == 1 and raw.startswith(BOM):
                    notes.bom_files.append(str(path))
                    raw = raw[len(BOM):]
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
        except CORRUPT_ERRORS as e:
            raise CorruptFile(f"after line {lineno} (decompressed byte offset {offset})", e) from e


def _truncation(e: json.JSONDecodeError, buf: str) -> bool:
    """Whether more text could still make `buf` parse (the error is at its end)."""
    return e.msg.startswith("Unterminated string") or e.pos >= len(buf.rstrip()) - 1


def _json_records(path: Path, notes: ReadNotes) -> Iterator[tuple[int, object]]:
    """(index, value) of each element of a top-level JSON array, streamed (or (1, value) for one
    top-level value); CorruptFile where the text stops parsing."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buf, pos, consumed_lines, eof, index = "", 0, 0, False, 0
    with open(path, "rb") as f:
        def more() -> None:
            nonlocal buf, pos, consumed_lines, eof
            chunk = f.read(CHUNK)
            eof = not chunk
            consumed_lines += buf.count("\n", 0, pos)
            buf = buf[pos:] + utf8.decode(chunk, final=eof)
            pos = 0

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or eof:
                    return buf[pos] if pos < len(buf) else ""
                more()

        def where() -> str:
            return f"at record {index + 1}, line {consumed_lines + buf.count(chr(10), 0, pos) + 1}"

        def value() -> object:
            nonlocal pos
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    if end < len(buf) or eof:  # at the buffer's end a number may go on in the next chunk
                        pos = end
                        return obj
                    more()
                except json.JSONDecodeError as e:
                    if eof or not _truncation(e, buf):
                        raise CorruptFile(where(), f"{e.msg} (character {e.pos - pos} of the record)") from e
                    more()

        try:
            more()
            if buf.startswith("\ufeff"):
                notes.bom_files.append(str(path))
                pos = 1
            first = skip_ws()
            if first != "[":
                if first:
                    yield 1, value()
                if skip_ws():
                    raise CorruptFile(where(), "text after the JSON value")
                return
            pos += 1
            if skip_ws() == "]":
                pos += 1
            else:
                while True:
                    if not skip_ws():
                        raise CorruptFile(where(), "the array ends early (truncated file)")
                    rec = value()
                    index += 1
                    yield index, rec
                    sep = skip_ws()
                    pos += 1
                    if sep == "]":
                        break
                    if sep != ",":
                        raise CorruptFile(where(), f"expected ',' or ']' after a record, found {sep or 'the end'!r}")
            if skip_ws():
                raise CorruptFile(where(), "text after the JSON array")
        except UnicodeDecodeError as e:
            raise CorruptFile(where(), e) from e


def _parquet_records(path: Path, source: Source, batch_rows: int) -> Iterator[tuple[int, object]]:
    row = 0
    try:
        pf = pq.ParquetFile(path)
    except CORRUPT_ERRORS as e:
        raise CorruptFile("in its footer (no row readable)", e) from e
    schema = pf.schema_arrow
    if source.text_field not in schema.names:
        raise SourceError(f"source {source.name}: {path} has no column {source.text_field!r} "
                          f"(text_field); its columns: {', '.join(schema.names)}")
    kind = schema.field(source.text_field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_nested(kind)):
        raise SourceError(f"source {source.name}: {path} column {source.text_field!r} (text_field) is {kind}, "
                          "not a string (or a nested value, which travels as JSON)")
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    except (*CORRUPT_ERRORS, OSError) as e:  # Arrow reports a corrupt page as an IOError (OSError)
        raise CorruptFile(f"after row {row}", e) from e


def _hf_records(uri: str) -> Iterator[tuple[str, int, object]]:
    try:
        import datasets
    except ImportError as e:
        raise SourceError(f"{uri}: reading hf:// sources needs the 'hf' extra (pip install 'hare-platform[hf]')") from e
    name, q = parse_hf_uri(uri)
    ds = datasets.load_dataset(name, q.get("config", [None])[0], split=q.get("split", ["train"])[0], streaming=True)
    for i, rec in enumerate(ds, start=1):
        yield uri, i, rec


def iter_records(source: Source, batch_rows: int, notes: ReadNotes,
                 on_corrupt_file: str = "quarantine") -> Iterator[tuple[str, int, object]]:
    """(file, line or row, record | Rejection) over every file of the source, in file order. A file
    that breaks part-way ends in one `corrupt_file` Rejection, or raises SourceError (on_corrupt_file)."""
    if source.format == "hf":
        yield from _hf_records(source.uri)
        return
    for path in source_files(source):
        if source.format == "parquet":
            records = _parquet_records(path, source, batch_rows)
        elif source.format == "json":
            records = _json_records(path, notes)
        else:
            records = _jsonl_records(path, notes)
        line = 0
        try:
            for line, rec in records:
                yield str(path), line, rec
        except CorruptFile as e:
            if on_corrupt_file == "fail":
                raise SourceError(f"source {source.name}: {path} is truncated or corrupt {e} "
                                  "(ingestion.on_corrupt_file: fail)") from None
            notes.corrupt_files.append(str(path))
            yield str(path), line + 1, Rejection("corrupt_file", f"{e} (the records before it are kept)"[:500])


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


def read_source(source: Source, batch_rows: int, notes: ReadNotes | None = None,
                on_corrupt_file: str = "quarantine") -> Iterator[tuple[list[dict], list[Quarantined]]]:
    """Batches of (good document rows, quarantined records); file-level findings go into `notes`."""
    root = glob_root(source)
    good: list[dict] = []
    bad: list[Quarantined] = []
    for file, line, rec in iter_records(source, batch_rows, notes or ReadNotes(), on_corrupt_file):
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
