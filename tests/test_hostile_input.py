"""Property-based: random bytes, random JSON values and random Unicode through the readers and D1
scoring and filtering never crash, and every record is accounted for: rows in = kept + quarantined
(reader) and = kept + rejected (D1)."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hare_assets.cleaning.signals import filter_signals, score_table
from hare_assets.core.schemas import DOCUMENT_SCHEMA
from hare_assets.core.settings import Cleaning, Dedup, Source
from hare_assets.sources.reader import read_source

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
records = st.one_of(json_values, st.dictionaries(st.just("text"), st.text() | json_values, min_size=1))


def read(fmt: str, name: str, payload: bytes) -> tuple[list[dict], list]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(payload)
        source = Source(name="s", category="C4", weight=1.0, uri=str(Path(tmp) / name), format=fmt)
        good, bad = [], []
        for g, b in read_source(source, batch_rows=7):
            good += g
            bad += b
    return good, bad


def d1(docs: list[dict]) -> tuple[int, int]:
    if not docs:
        return 0, 0
    signals, _, _ = score_table(pa.Table.from_pylist(docs, schema=DOCUMENT_SCHEMA), Cleaning(), Dedup())
    kept, rejected, why = filter_signals(signals, Cleaning(), 1.0)
    assert sum(why.values()) == rejected.num_rows
    return kept.num_rows, rejected.num_rows


@PROFILE
@given(st.binary(max_size=400))
def test_random_bytes_as_jsonl(payload):
    good, bad = read("jsonl", "a.jsonl", payload)
    lines = [raw for raw in payload.removeprefix(b"\xef\xbb\xbf").split(b"\n") if raw.strip()]
    assert len(good) + len(bad) == len(lines)
    kept, rejected = d1(good)
    assert kept + rejected == len(good)


@PROFILE
@given(st.binary(max_size=400))
def test_random_bytes_as_gzip_and_json(payload):
    for fmt, name, data in (("jsonl.gz", "a.jsonl.gz", payload), ("jsonl.gz", "b.jsonl.gz", gzip.compress(payload)[:-3]),
                            ("json", "a.json", payload)):
        good, bad = read(fmt, name, data)
        assert all(b.rejection.reason for b in bad)
        assert sum(b.rejection.reason == "corrupt_file" for b in bad) <= 1  # one row for a broken file


@PROFILE
@given(st.lists(records, max_size=12))
def test_random_json_records(recs):
    lines = [json.dumps(r) for r in recs]
    good, bad = read("jsonl", "a.jsonl", "\n".join(lines).encode())
    assert len(good) + len(bad) == len(recs)
    good_arr, bad_arr = read("json", "a.json", json.dumps(recs).encode())
    assert (len(good_arr), len(bad_arr)) == (len(good), len(bad))
    kept, rejected = d1(good)
    assert kept + rejected == len(good)


@PROFILE
@given(st.lists(st.text(), min_size=1, max_size=8))
def test_random_unicode_texts(texts):
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    good, bad = read("jsonl", "a.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))
    assert len(good) + len(bad) == len(texts)
    assert {b.rejection.reason for b in bad} <= {"invalid_utf8", "invalid_surrogates"}
    kept, rejected = d1(good)
    assert kept + rejected == len(good)
