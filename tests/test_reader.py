import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from hare_assets.core.settings import Source
from hare_assets.sources.reader import SourceError, read_source


def src(tmp_path, fmt="jsonl", field="text", pattern=None) -> Source:
    return Source(name="s", category="C4", weight=1.0, uri=str(tmp_path / (pattern or f"*.{fmt}")), format=fmt,
                  text_field=field)


def collect(source, batch_rows=1000):
    good, bad = [], []
    for g, b in read_source(source, batch_rows):
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

