"""The embedded sample corpus: deterministic, idempotent, and every planted item where the manifest says."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard

from hare_assets.core.benchmarks import load_benchmark
from hare_assets.core.sample import write_sample
from hare_assets.core.sample.banks import FOREIGN
from hare_assets.core.settings import BENCHMARK_NAMES
from hare_assets.sources.reader import read_source

D1_SOURCES = ("RedPajamaC4", "RedPajamaArxiv", "Pubmed", "S2orc", "PhiPapers", "RedPajamaBook", "PG_19",
              "RedPajamaStackExchange", "HackerNews", "FreeLaw", "PileofLaw", "AMPS", "DM_math", "Orca_math",
              "OpenWebMath", "Fanfics", "RedPajamaWiki", "The-Stack", "StackOverFlow")
OPEN_SOURCES = ("cosmopedia", "dolly", "openhermes", "autocot")
CHAT_SOURCES = ("metamathqa", "ultrachat200k")  # read only by chat_sft_samples
MIN_PLANTED = {"pii": 12, "url": 10, "non_english": 5, "truncated": 5, "short": 3, "boilerplate": 3,
               "contamination": 6}
MALFORMED = {("HackerNews", "bad_json"), ("PhiPapers", "missing_text_field"), ("S2orc", "invalid_utf8"),
             ("RedPajamaStackExchange", "missing_text_field")}
CODE = "The-Stack"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample") / "sample"
    return root, write_sample(root)


def raw_records(root: Path, rel: str, fmt: str) -> list:
    """Every record of a file as written: dicts, or the raw bytes of a line that is not valid JSON."""
    path = root / rel
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    data = path.read_bytes()
    if fmt == "jsonl.gz":
        data = gzip.decompress(data)
    elif fmt == "jsonl.zst":
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    records = []
    for line in data.split(b"\n")[:-1]:
        try:
            records.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            records.append(line)
    return records


def text_of(record, field: str) -> str | None:
    if isinstance(record, dict) and "query" in record:  # MetaMathQA: the question is half the conversation
        return f"{record['query']}\n{record[field]}"
    value = record.get(field) if isinstance(record, dict) else None
    if isinstance(value, list):  # openhermes turns ("value"), ultrachat messages ("content")
        return "\n".join(turn.get("value", turn.get("content")) for turn in value)
    return value


@pytest.fixture(scope="module")
def texts(sample) -> dict[tuple[str, str, int], str | None]:
    """(source, file, 1-based line) -> text, None where the record has none."""
    root, manifest = sample
    out = {}
    for name, src in manifest["sources"].items():
        for rel in src["files"]:
            for line, rec in enumerate(raw_records(root, rel, src["format"]), start=1):
                out[(name, rel, line)] = text_of(rec, src["text_field"])
    return out


def where(p: dict) -> tuple[str, str, int]:
    return p["source"], p["file"], p["line"]


def shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- writing

def test_same_bytes_every_run(sample, tmp_path):
    root, _ = sample
    again = tmp_path / "again"  # another interpreter, another hash seed: no dependence on either
    code = f"from hare_assets.core.sample import write_sample; write_sample({str(again)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1],
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert tree_bytes(again) == tree_bytes(root)


def test_second_call_returns_the_manifest_without_rewriting(sample):
    root, manifest = sample
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert write_sample(root) == manifest == json.loads((root / "MANIFEST.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before


def test_concurrent_writers_agree_and_leave_no_temporary_folders(tmp_path):
    root = tmp_path / "shared" / "sample"
    with ProcessPoolExecutor(max_workers=3) as pool:
        manifests = list(pool.map(write_sample, [root] * 3))
    assert manifests[0] == manifests[1] == manifests[2]
    assert [p.name for p in root.parent.iterdir()] == ["sample"]


def test_a_foreign_folder_is_not_overwritten(tmp_path):
    root = tmp_path / "sample"
    root.mkdir()
    (root / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="MANIFEST.json"):
        write_sample(root)
    assert (root / "mine.txt").read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["sample"]


# ---------------------------------------------------------------- layout and counts

def test_layout_and_counts_match_the_manifest(sample):
    root, manifest = sample
    assert set(manifest["sources"]) == set(D1_SOURCES + OPEN_SOURCES + CHAT_SOURCES)
    on_disk = sorted(p.relative_to(root).as_posix() for p in (root / "sources").rglob("*") if p.is_file())
    assert on_disk == sorted(f for s in manifest["sources"].values() for f in s["files"])
    total = 0
    for name, src in manifest["sources"].items():
        assert src["files"] == [f"sources/{name}/part-{k}.{src['format']}" for k in range(len(src["files"]))]
        records = sum(len(raw_records(root, f, src["format"])) for f in src["files"])
        assert records == src["records"]
        assert 10 <= records <= 16 if name in D1_SOURCES else 8 <= records <= 12
        total += records
    assert 250 <= total <= 350
    assert len(manifest["sources"]["RedPajamaC4"]["files"]) == len(manifest["sources"]["RedPajamaWiki"]["files"]) == 2


def test_the_default_config_reads_every_source_and_quarantines_exactly_the_malformed_lines(hare_home):
    from hare_assets.core.settings import load_settings

    root = hare_home / "sample"
    manifest = write_sample(root)
    malformed = {(p["file"], p["line"], p["reason"]) for p in manifest["planted"] if p["kind"] == "malformed"}
    quarantined = set()
    for source in load_settings().sources:
        good = bad = 0
        for docs, rejected in read_source(source, 1000):
            good += len(docs)
            bad += len(rejected)
            quarantined |= {(Path(r.file).relative_to(root).as_posix(), r.line, r.rejection.reason) for r in rejected}
        assert good + bad == manifest["sources"][source.name]["records"], source.name
    assert quarantined == malformed


# ---------------------------------------------------------------- planted items

def test_every_planted_kind_reaches_its_minimum(sample):
    planted = sample[1]["planted"]
    kinds = Counter(p["kind"] for p in planted)
    for kind, minimum in MIN_PLANTED.items():
        assert kinds[kind] >= minimum, kind
    for kind in ("exact_duplicate", "near_duplicate"):
        groups = Counter(p["group"] for p in planted if p["kind"] == kind)
        assert len(groups) >= 6 and min(groups.values()) >= 2
    assert {(p["source"], p["reason"]) for p in planted if p["kind"] == "malformed"} == MALFORMED
    assert {p["source"] for p in planted if p["kind"] == "contamination"} & {"cosmopedia", "dolly"}
    assert len({p["lang"] for p in planted if p["kind"] == "non_english"}) == 3


def test_duplicates_are_identical_or_close_and_cross_sources(sample, texts):
    groups = defaultdict(list)
    for p in sample[1]["planted"]:
        if p["kind"] in ("exact_duplicate", "near_duplicate"):
            groups[(p["kind"], p["group"])].append(p)
    for (kind, group), members in groups.items():
        docs = [texts[where(p)] for p in members]
        if kind == "exact_duplicate":
            assert len(set(docs)) == 1, group
            assert len({p["source"] for p in members}) >= 2, group
        else:
            original, variant = docs
            assert original != variant and jaccard(original, variant) >= 0.7, group
    near_sources = [{p["source"] for p in m} for (k, _), m in groups.items() if k == "near_duplicate"]
    assert any(len(s) == 1 for s in near_sources) and any(len(s) == 2 for s in near_sources)


def test_modified_and_added_documents_carry_their_defect(sample, texts):
    for p in sample[1]["planted"]:
        text = texts[where(p)]
        if p["kind"] == "pii":
            assert all(v["value"] in text for v in p["pii"]), p
        elif p["kind"] == "url":
            assert all(u in text for u in p["urls"]), p
        elif p["kind"] == "non_english":
            assert text in FOREIGN.values()
        elif p["kind"] == "truncated":
            assert text[-1].isalpha() and len(text.split()) >= 40, p
        elif p["kind"] == "short":
            assert len(text.split()) < 20 and text[-1] in ".!?"
        elif p["kind"] == "boilerplate":
            lines = text.split("\n")
            assert len(set(lines)) * 4 <= len(lines)
        elif p["kind"] == "malformed":
            assert text is None
    pii_types = {v["type"] for p in sample[1]["planted"] if p["kind"] == "pii" for v in p["pii"]}
    assert pii_types == {"email", "phone", "ipv4", "ipv6", "card"}


def test_contaminated_documents_quote_their_benchmark_item(sample, texts):
    root, manifest = sample
    items = {(b, i.split, i.item_id): i for b in BENCHMARK_NAMES for i in load_benchmark(b, root / "benchmarks" / b)}
    for p in (p for p in manifest["planted"] if p["kind"] == "contamination"):
        item, text = items[(p["benchmark"], p["split"], p["item_id"])], texts[where(p)]
        assert item.context in text and item.answer in text and all(c in text for c in item.choices)
        item_grams = set(ngrams(item.text, 13))
        doc_grams = ngrams(text, 13)
        assert sum(g in item_grams for g in doc_grams) / len(doc_grams) > 0.5, p  # above the paper's threshold


def test_clean_documents_are_complete_varied_and_distinct(sample, texts):
    planted = {where(p) for p in sample[1]["planted"]}
    clean = {k: t for k, t in texts.items() if k not in planted}
    for (source, _, _), text in clean.items():
        assert not re.search(r"\w@\w|https?://|www\.", text), source  # no PII or links by accident
        if source in CHAT_SOURCES:  # conversations, not documents: short turns, MetaMathQA ends on its answer
            continue
        if source != CODE:
            assert text.rstrip()[-1] in ".!?\"" and 80 <= len(text.split()) <= 400, source
    pairs = itertools.combinations(clean.values(), 2)
    assert max(jaccard(a, b) for a, b in pairs) < 0.6  # well below the dedup threshold (0.7)


# ---------------------------------------------------------------- benchmark fixtures

def test_fixtures_load_and_their_rephrased_twins_move_the_answer(sample):
    root, manifest = sample
    assert set(manifest["benchmarks"]) == set(manifest["benchmarks_rephrased"]) == set(BENCHMARK_NAMES)
    for name in BENCHMARK_NAMES:
        assert all((root / f).is_file() for f in manifest["benchmarks"][name] + manifest["benchmarks_rephrased"][name])
        original = load_benchmark(name, root / "benchmarks" / name)
        rephrased = {(i.split, i.item_id): i for i in load_benchmark(name, root / "benchmarks_rephrased" / name)}
        assert len(original) == len(rephrased) >= 8
        for item in original:
            twin = rephrased[(item.split, item.item_id)]
            assert len(item.context.split()) >= 15 and twin.context != item.context
            assert twin.answer == item.answer
            if item.choices:
                assert sorted(twin.choices) == sorted(item.choices) and twin.gold != item.gold
