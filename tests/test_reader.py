import codecs
import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from hare_assets.core.settings import Source
from hare_assets.sources.reader import ReadNotes, SourceError, read_source


def src(tmp_path, fmt="jsonl", field="text", pattern=None) -> Source:
    return Source(name="s", category="C4", weight=1.0, uri=str(tmp_path / (pattern or f"*.{fmt}")), format=fmt,
                  text_field=field)


def collect(source, batch_rows=1000, notes=None, on_corrupt_file="quarantine"):
    good, bad = [], []
    for g, b in read_source(source, batch_rows, notes, on_corrupt_file):
        good += g
        bad += b
    return good, bad


def test_malformed_records_are_quarantined_with_file_and_line(tmp_path):
    lines = [json.dumps({"text": "first doc"}).encode(), b'{"text": "broken', b"\xff\xfe not utf8",
             json.dumps({"title": "no text"}).encode(), json.dumps({"text": None}).encode(), b"[1, 2]",
             json.dumps({"text": 42}).encode(), b"", json.dumps({"text": "last doc", "url": "u"}).encode()]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    good, bad = collect(src(tmp_path))
    assert [d["text"] for d in good] == ["first doc", "last doc"]
    assert [(b.line, b.rejection.reason) for b in bad] == [(2, "bad_json"), (3, "invalid_utf8"), (4, "missing_text_field"),
                                               (5, "missing_text_field"), (6, "not_an_object"), (7, "text_field_not_text")]
    assert all(b.file.endswith("a.jsonl") for b in bad)
    meta = json.loads(good[1]["meta"])
    assert meta == {"url": "u", "_file": "a.jsonl", "_line": 9}


def test_compressed_and_parquet_formats_and_stable_ids(tmp_path):
    recs = [{"text": f"doc {i}"} for i in range(5)]
    payload = "".join(json.dumps(r) + "\n" for r in recs).encode()
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "a.jsonl.gz").write_bytes(gzip.compress(payload))
    (tmp_path / "zst").mkdir()
    (tmp_path / "zst" / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(payload))
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "pq" / "a.parquet")
    texts = {}
    for sub, fmt in (("gz", "jsonl.gz"), ("zst", "jsonl.zst"), ("pq", "parquet")):
        good, bad = collect(src(tmp_path, fmt, pattern=f"{sub}/*.{fmt}"))
        assert not bad
        texts[fmt] = [d["text"] for d in good]
        ids = [d["id"] for d in good]
        assert len(set(ids)) == 5 and ids == [d["id"] for d in collect(src(tmp_path, fmt, pattern=f"{sub}/*.{fmt}"))[0]]
    assert texts["jsonl.gz"] == texts["jsonl.zst"] == texts["parquet"] == [f"doc {i}" for i in range(5)]


def test_structured_text_field_travels_as_json(tmp_path):
    conv = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    (tmp_path / "a.jsonl").write_text(json.dumps({"conversations": conv}) + "\n")
    good, _ = collect(src(tmp_path, field="conversations"))
    assert json.loads(good[0]["text"]) == conv


def test_batches_are_bounded(tmp_path):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": f"d{i}"}) + "\n" for i in range(25)))
    sizes = [len(g) for g, _ in read_source(src(tmp_path), batch_rows=10)]
    assert sizes == [10, 10, 5]


def test_missing_files_fail_with_the_source_and_uri(tmp_path):
    with pytest.raises(SourceError, match=r"source s: no files match uri .*nothing"):
        collect(src(tmp_path, pattern="nothing/*.jsonl"))


def test_hf_without_extra_says_which_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)
    s = Source(name="h", category="C4", weight=1, uri="hf://org/ds", format="hf")
    with pytest.raises(SourceError, match=r"hf:// sources needs the 'hf' extra"):
        collect(s)



def test_bom_is_skipped_and_noted_and_crlf_lines_parse(tmp_path):
    lines = [json.dumps({"text": f"doc {i}"}) for i in range(8)]
    (tmp_path / "a.jsonl").write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n")
    notes = ReadNotes()
    good, bad = collect(src(tmp_path), notes=notes)
    assert [d["text"] for d in good] == [f"doc {i}" for i in range(8)] and bad == []
    assert notes.bom_files == [str(tmp_path / "a.jsonl")]


def _payload(n: int) -> bytes:
    return "".join(json.dumps({"text": f"document number {i} " + "x" * (i % 50)}) + "\n" for i in range(n)).encode()


@pytest.mark.parametrize("fmt", ["jsonl.gz", "jsonl.zst"])
def test_truncated_compressed_file_keeps_records_before_the_break(tmp_path, fmt):
    payload = _payload(20_000)
    data = gzip.compress(payload) if fmt == "jsonl.gz" else zstandard.ZstdCompressor().compress(payload)
    (tmp_path / f"a.{fmt}").write_bytes(data[: len(data) // 2])
    (tmp_path / f"b.{fmt}").write_bytes(data)  # the next file is still read whole
    notes = ReadNotes()
    good, bad = collect(src(tmp_path, fmt), notes=notes)
    first = [d for d in good if json.loads(d["meta"])["_file"] == f"a.{fmt}"]
    # Every record before the break (each line is complete: a partial last line would be bad_json).
    assert 5_000 < len(first) < 20_000
    assert [d["text"] for d in first] == [f"document number {i} " + "x" * (i % 50) for i in range(len(first))]
    assert len(good) == len(first) + 20_000
    assert [(Path(b.file).name, b.rejection.reason) for b in bad if b.rejection.reason != "bad_json"] == [
        (f"a.{fmt}", "corrupt_file")]
    corrupt = [b for b in bad if b.rejection.reason == "corrupt_file"][0]
    assert "decompressed byte offset" in corrupt.rejection.detail and corrupt.line > len(first)
    assert notes.corrupt_files == [str(tmp_path / f"a.{fmt}")]
    with pytest.raises(SourceError, match=rf"source s: .*a\.{re.escape(fmt)} is truncated or corrupt after line \d+.*"
                                          r"on_corrupt_file: fail"):
        collect(src(tmp_path, fmt), on_corrupt_file="fail")


def test_corrupt_and_truncated_parquet(tmp_path):
    pq.write_table(pa.table({"text": [f"row {i} " * 30 for i in range(4000)]}), tmp_path / "a.parquet",
                   row_group_size=1000, compression="snappy")
    blob = bytearray((tmp_path / "a.parquet").read_bytes())
    blob[len(blob) // 2: len(blob) // 2 + 3000] = b"\x55" * 3000  # a page in the middle
    (tmp_path / "a.parquet").write_bytes(bytes(blob))
    (tmp_path / "b.parquet").write_bytes(bytes(blob[: len(blob) // 3]))  # no footer
    good, bad = collect(src(tmp_path, "parquet"), batch_rows=500)
    assert 0 < len(good) < 4000 and [d["text"] for d in good] == [f"row {i} " * 30 for i in range(len(good))]
    assert [(Path(b.file).name, b.line, b.rejection.reason) for b in bad] == [
        ("a.parquet", len(good) + 1, "corrupt_file"), ("b.parquet", 1, "corrupt_file")]
    assert f"after row {len(good)}" in bad[0].rejection.detail and "footer" in bad[1].rejection.detail


def test_parquet_without_or_with_non_string_text_column_names_file_and_column(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "a.parquet")
    with pytest.raises(SourceError, match=r"a\.parquet has no column 'text' \(text_field\); its columns: body"):
        collect(src(tmp_path, "parquet"))
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "a.parquet")
    with pytest.raises(SourceError, match=r"a\.parquet column 'text' \(text_field\) is int64, not a string"):
        collect(src(tmp_path, "parquet"))


def test_json_array_and_single_object_files(tmp_path):
    conv = [{"from": "human", "value": "hi"}]
    records = [{"conversations": conv, "id": i} for i in range(3000)]  # > one read chunk
    (tmp_path / "a.json").write_text(json.dumps(records, indent=1))
    (tmp_path / "b.json").write_bytes(codecs.BOM_UTF8 + json.dumps({"conversations": conv, "id": "one"}).encode())
    notes = ReadNotes()
    good, bad = collect(src(tmp_path, "json", field="conversations"), notes=notes)
    assert bad == [] and len(good) == 3001 and notes.bom_files == [str(tmp_path / "b.json")]
    assert [json.loads(d["meta"])["_line"] for d in good[:3]] == [1, 2, 3]  # the record's index in the array
    assert json.loads(good[-1]["meta"])["id"] == "one" and json.loads(good[0]["text"]) == conv


def test_json_array_non_objects_and_truncation(tmp_path):
    (tmp_path / "a.json").write_text('[{"text": "a"}, 12345, "str", {"text": "b"}, {"text": "cut')
    good, bad = collect(src(tmp_path, "json"))
    assert [d["text"] for d in good] == ["a", "b"]
    assert [(b.line, b.rejection.reason) for b in bad] == [(2, "not_an_object"), (3, "not_an_object"),
                                                         (5, "corrupt_file")]
    assert "at record 5, line 1" in bad[-1].rejection.detail
    (tmp_path / "a.json").write_text('[{"text": "a"}}')
    _, bad = collect(src(tmp_path, "json"))
    assert [(b.line, b.rejection.reason) for b in bad] == [(2, "corrupt_file")]
    assert "expected ',' or ']'" in bad[0].rejection.detail
