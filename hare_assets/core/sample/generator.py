"""The embedded sample corpus: a small, deterministic stand-in for every configured source.

`write_sample(root)` writes, under `root`:
  sources/<name>/part-<k>.<ext>        documents in each source's real shape and file format
  benchmarks/, benchmarks_rephrased/   project-written benchmark fixtures (see fixtures.py)
  MANIFEST.json                        per-source counts and every planted item with file and line

Planted noise (duplicates, PII, links, other languages, truncation, boilerplate, benchmark
contamination, malformed records) lets each cleaning stage be checked against known answers. Lines
are 1-based: the JSONL line number, or the Parquet row number, as the source reader counts them.
Same seed, same bytes: one seeded RNG, gzip without timestamps, no wall clock, no hash order.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from hare_assets.core.sample import genres
from hare_assets.core.sample.banks import (
    FIRST_NAMES,
    FOREIGN,
    GENERAL_TOPICS,
    SURNAMES,
    TOPICS,
    Topic,
)
from hare_assets.core.sample.fixtures import FixtureItem, write_fixtures

SEED = 2406_11410
MANIFEST = "MANIFEST.json"
NEAR_DUPLICATE_MIN_WORDS = 120


@dataclass(frozen=True)
class SourceSpec:
    name: str
    fmt: str
    text_field: str
    files: int
    records: int  # total, planted and malformed included
    make: Callable[[random.Random, Topic], dict]
    topics: tuple[str, ...]


SOURCES = (
    SourceSpec("RedPajamaC4", "jsonl.zst", "text", 2, 16, genres.web_page, GENERAL_TOPICS),
    SourceSpec("RedPajamaArxiv", "jsonl.gz", "text", 1, 13, genres.arxiv_paper, genres.ACADEMIC_TOPICS),
    SourceSpec("Pubmed", "parquet", "text", 1, 12, genres.pubmed_abstract, ("biology",)),
    SourceSpec("S2orc", "jsonl", "text", 1, 14, genres.s2orc_paper, genres.S2ORC_TOPICS),
    SourceSpec("PhiPapers", "jsonl", "text", 1, 11, genres.philosophy_paper, ("philosophy",)),
    SourceSpec("RedPajamaBook", "jsonl.zst", "text", 1, 14, genres.book_chapter, GENERAL_TOPICS),
    SourceSpec("PG_19", "jsonl.gz", "text", 1, 12, genres.pg19_book, GENERAL_TOPICS),
    SourceSpec("RedPajamaStackExchange", "jsonl", "text", 1, 14, genres.stackexchange_post,
               tuple(genres.SE_SITES)),
    SourceSpec("HackerNews", "jsonl", "text", 1, 14, genres.hn_thread, genres.HN_TOPICS),
    SourceSpec("FreeLaw", "jsonl.zst", "text", 1, 13, genres.court_opinion, ("law",)),
    SourceSpec("PileofLaw", "jsonl", "text", 1, 13, genres.legal_document, ("law",)),
    SourceSpec("AMPS", "jsonl", "text", 1, 12, genres.khan_problems, ("mathematics",)),
    SourceSpec("DM_math", "jsonl", "text", 1, 11, genres.dm_math, ("mathematics",)),
    SourceSpec("Orca_math", "parquet", "text", 1, 12, genres.orca_problem, ("mathematics",)),
    SourceSpec("OpenWebMath", "jsonl.gz", "text", 1, 12, genres.openwebmath_post, ("mathematics",)),
    SourceSpec("Fanfics", "jsonl", "text", 1, 13, genres.fanfic, GENERAL_TOPICS),
    SourceSpec("RedPajamaWiki", "parquet", "text", 2, 16, genres.wiki_article, GENERAL_TOPICS),
    SourceSpec("The-Stack", "jsonl", "content", 1, 12, genres.code_file, ("programming",)),
    SourceSpec("StackOverFlow", "jsonl", "text", 1, 13, genres.stackoverflow_post, ("programming",)),
    SourceSpec("cosmopedia", "jsonl", "text", 1, 10, genres.textbook_unit, GENERAL_TOPICS),
    SourceSpec("dolly", "jsonl", "response", 1, 10, genres.dolly_record, GENERAL_TOPICS),
    SourceSpec("openhermes", "jsonl", "conversations", 1, 10, genres.hermes_record, GENERAL_TOPICS),
    SourceSpec("autocot", "jsonl", "rationale", 1, 10, genres.autocot_record, ("mathematics",)),
)
# The chat fine-tune's sources (Appendix C.1), drawn from their own seeded generator after everything
# above, so adding them left the other sources' bytes unchanged.
CHAT_SOURCES = (
    SourceSpec("metamathqa", "jsonl", "response", 1, 8, genres.metamath_record, ("mathematics",)),
    SourceSpec("ultrachat200k", "jsonl", "messages", 1, 8, genres.ultrachat_record, GENERAL_TOPICS),
)
CHAT_SEED = SEED + 12
# A MetaMathQA record that is a GSM8K test item, question and solution: chat_sft_samples must remove it.
CHAT_CONTAMINATION = ("metamathqa", "gsm8k", "test:3")
SPECS = {s.name: s for s in (*SOURCES, *CHAT_SOURCES)}

# ---------------------------------------------------------------- what gets planted where

# (source of the original, sources that get a verbatim copy)
EXACT_DUPLICATES = (
    ("RedPajamaWiki", ("RedPajamaC4",)), ("RedPajamaWiki", ("RedPajamaC4",)), ("RedPajamaArxiv", ("S2orc",)),
    ("RedPajamaStackExchange", ("StackOverFlow",)), ("PG_19", ("RedPajamaBook",)), ("FreeLaw", ("PileofLaw",)),
    ("Pubmed", ("S2orc", "RedPajamaArxiv")),
)
# (source of the original, source of the variant, change: "words" swaps a few words, "sentence" adds one)
NEAR_DUPLICATES = (
    ("RedPajamaC4", "RedPajamaC4", "words"), ("RedPajamaWiki", "RedPajamaC4", "sentence"),
    ("RedPajamaStackExchange", "StackOverFlow", "words"), ("PG_19", "RedPajamaBook", "words"),
    ("FreeLaw", "FreeLaw", "words"), ("RedPajamaArxiv", "S2orc", "sentence"),
    ("HackerNews", "HackerNews", "sentence"),
)
# (source, sentence template); the slots name the PII types
PII = (
    ("RedPajamaC4", "For bookings, email {email} or call {phone} between nine and five."),
    ("RedPajamaC4", "My card {card} was charged twice, and the help line at {phone} kept me on hold for an hour."),
    ("HackerNews", "Happy to share the raw numbers if anyone is curious, just ping me at {email}."),
    ("RedPajamaStackExchange", "The failing requests come from {ipv4}, and the same error shows up for {ipv6}."),
    ("StackOverFlow", "The API server runs at {ipv4} on port 8080, if that matters."),
    ("FreeLaw", "Counsel for the appellant may be reached at {phone} or by email at {email}."),
    ("PileofLaw", "Notices under this agreement shall be sent to {email} with a copy by telephone to {phone}."),
    ("Pubmed", "Correspondence should be addressed to {email}; telephone {phone}."),
    ("S2orc", "Corresponding author: {email}."),
    ("The-Stack", "Maintainer: {email}"),
    ("Fanfics", "A/N: If you want to beta read the next chapter, email me at {email}!"),
    ("OpenWebMath", "Questions about this proof can be sent to {email} and I will try to answer them."),
    ("RedPajamaBook", "\"If anything happens, call me at {phone},\" she said, pressing the card into his hand."),
)
PII_VALUES = {
    "phone": ("(555) 123-4567", "+44 20 7946 0958", "555-867-5309", "+1 415 555 0132", "(555) 010-2288"),
    "ipv4": ("192.0.2.14", "198.51.100.23", "203.0.113.77"),
    "ipv6": ("2001:db8::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334"),
    "card": ("4111 1111 1111 1111", "5500-0000-0000-0004"),
}
# (source, sentence template with the link)
URLS = (
    ("RedPajamaC4", "Read the full guide at https://www.example.org/guides/{slug} before you start."),
    ("RedPajamaC4", "Printable checklists are at example.com/docs/{slug} for anyone who wants them."),
    ("RedPajamaWiki", "An archived copy of the original report is kept at www.example.org/archive/{slug}."),
    ("HackerNews", "Previous discussion, with lots of good comments: https://news.example.com/item?id={n}."),
    ("RedPajamaStackExchange", "The documentation at https://docs.example.com/reference/{slug} explains the details."),
    ("StackOverFlow", "There is a runnable version at http://example.net/snippets/{n} if you want to try it."),
    ("S2orc", "Data and code are available at https://doi.example.org/10.5555/{n}."),
    ("RedPajamaArxiv", "Our implementation is released at https://github.com/example-lab/{slug}."),
    ("OpenWebMath", "Lecture notes with more exercises are at www.example.edu/~teaching/{slug}.pdf."),
    ("PileofLaw", "The current rules are published at https://www.example-courtrecords.gov/rules/{n}."),
    ("Fanfics", "Cover art by a friend, posted at example.com/art/{n} with permission."),
)
NON_ENGLISH = (("RedPajamaC4", "fr"), ("RedPajamaWiki", "de"), ("HackerNews", "de2"), ("Fanfics", "es"),
               ("PG_19", "fr2"), ("RedPajamaStackExchange", "es2"))
TRUNCATED = ("RedPajamaC4", "RedPajamaBook", "RedPajamaWiki", "RedPajamaArxiv", "S2orc", "HackerNews")
SHORT = (("RedPajamaC4", "Page not found. Please check the address and try again."),
         ("HackerNews", "Great write-up, thanks for sharing!"),
         ("RedPajamaStackExchange", "Same problem here. Did you ever find a fix?"))
BOILERPLATE = (
    ("RedPajamaC4", ("Home | About | Contact | Subscribe", "We use cookies to improve your experience.",
                     "Accept all cookies."), 8),
    ("PileofLaw", ("This page intentionally left blank.",), 14),
    ("Fanfics", ("Please review! The next chapter is coming soon!",), 12),
)
# (source, benchmark, item id, lead-in sentence)
CONTAMINATION = (
    ("RedPajamaC4", "mmlu", "astronomy_test:1", "A practice question from my astronomy review sheet:"),
    ("RedPajamaWiki", "arc_challenge", "HARE-ARC-006", "Sample question used in the science curriculum:"),
    ("HackerNews", "truthfulqa", "TruthfulQA:3", "Saw this quiz item today:"),
    ("RedPajamaBook", "winogrande", "HAREWG05-1", "Fill in the blank:"),
    ("RedPajamaStackExchange", "hellaswag", "90006", "Which ending fits best here?"),
    ("OpenWebMath", "gsm8k", "test:5", "Worked example from the homework set:"),
    ("Orca_math", "gsm8k", "test:2", "Here is a solved problem:"),
    ("cosmopedia", "arc_challenge", "HARE-ARC-003", "Check your understanding:"),
    ("dolly", "gsm8k", "test:7", "Here is the solution:"),
)
# (source, raw line, reason the reader should give)
MALFORMED = (
    ("HackerNews", b'{"text": "Show HN: I built a static site generator in a weekend", "meta": {"by": "quietbyte"',
     "bad_json"),
    ("PhiPapers", json.dumps({"meta": {"title": "On moral luck", "authors": ["Grace Ashworth"], "year": 2011},
                              "abstract": "A reply to recent work on resultant luck."}).encode(), "missing_text_field"),
    ("S2orc", b'{"paper_id": "48213377", "title": "Caf\xe9 culture and the public sphere", '
              b'"text": "The caf\xe9s of the period served as reading rooms for merchants and clerks."}',
     "invalid_utf8"),
    ("RedPajamaStackExchange", json.dumps({"text": None, "meta": {
        "language": "en", "source": "stackexchange", "url": "https://cooking.stackexchange.com/questions/1"}}).encode(),
     "missing_text_field"),
)
SYNONYMS = {"often": "frequently", "usually": "typically", "large": "big", "small": "little", "many": "numerous",
            "quickly": "rapidly", "about": "roughly", "begin": "start", "important": "significant", "each": "every",
            "first": "initial", "slowly": "gradually", "long": "lengthy", "simple": "basic", "new": "fresh",
            "before": "prior to", "most": "the majority of", "help": "assist", "old": "aged", "good": "fine"}
ADDED_SENTENCES = ("Editor's note: this piece was updated to correct a small error in an earlier version.",
                   "This version adds a short clarification requested by several readers.")


# ---------------------------------------------------------------- the corpus in memory

@dataclass
class Doc:
    record: dict | None         # None for a malformed raw line
    raw: bytes | None = None
    plants: list[dict] = field(default_factory=list)


class Corpus:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.docs: dict[str, list[Doc]] = {s.name: [] for s in (*SOURCES, *CHAT_SOURCES)}

    def text(self, source: str, doc: Doc) -> str:
        return doc.record[SPECS[source].text_field]

    def set_text(self, source: str, doc: Doc, text: str) -> None:
        doc.record[SPECS[source].text_field] = text

    def new_record(self, source: str, text: str) -> dict:
        """A record in the source's own shape (its metadata drawn fresh) carrying `text`."""
        spec = SPECS[source]
        record = spec.make(self.rng, TOPICS[self.rng.choice(spec.topics)])
        record[spec.text_field] = text
        return record

    def insert(self, source: str, doc: Doc) -> None:
        docs = self.docs[source]
        docs.insert(self.rng.randint(0, len(docs)), doc)

    def pick_clean(self, source: str, min_words: int = 0) -> Doc:
        """A not-yet-planted document, so each planted item has exactly one reason to be caught."""
        pool = [d for d in self.docs[source]
                if d.record is not None and not d.plants and len(self.text(source, d).split()) >= min_words]
        if not pool:
            raise RuntimeError(f"sample corpus: no clean document left in {source} to plant into")
        return self.rng.choice(pool)


def normal_documents(corpus: Corpus, planted_new: Counter[str]) -> None:
    for spec in SOURCES:
        count = spec.records - planted_new[spec.name]
        topics = [spec.topics[i % len(spec.topics)] for i in range(count)]
        corpus.rng.shuffle(topics)
        corpus.docs[spec.name] = [Doc(spec.make(corpus.rng, TOPICS[t])) for t in topics]


def new_documents_per_source() -> Counter[str]:
    """How many documents the plant tables add (rather than modify) in each source."""
    return Counter([t for _, targets in EXACT_DUPLICATES for t in targets] + [t for _, t, _ in NEAR_DUPLICATES]
                   + [s for s, _ in NON_ENGLISH] + [s for s, _ in SHORT] + [s for s, _, _ in BOILERPLATE]
                   + [s for s, *_ in CONTAMINATION] + [s for s, *_ in MALFORMED])


# ---------------------------------------------------------------- planting, one function per kind

def plant_exact_duplicates(corpus: Corpus) -> None:
    for group, (origin, targets) in enumerate(EXACT_DUPLICATES, start=1):
        original = corpus.pick_clean(origin)
        tag = {"kind": "exact_duplicate", "group": f"exact-{group}"}
        original.plants.append({**tag, "role": "original"})
        for target in targets:
            record = corpus.new_record(target, corpus.text(origin, original))
            corpus.insert(target, Doc(record, plants=[{**tag, "role": "copy"}]))


def reword(rng: random.Random, text: str, k: int = 3) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w in SYNONYMS]
    for i in rng.sample(candidates, min(k, len(candidates))):
        words[i] = SYNONYMS[words[i]]
    return " ".join(words)


def plant_near_duplicates(corpus: Corpus) -> None:
    for group, (origin, target, change) in enumerate(NEAR_DUPLICATES, start=1):
        original = corpus.pick_clean(origin, NEAR_DUPLICATE_MIN_WORDS)
        text = corpus.text(origin, original)
        variant = reword(corpus.rng, text) if change == "words" else text
        if variant == text:
            variant = f"{text}\n\n{corpus.rng.choice(ADDED_SENTENCES)}"
        tag = {"kind": "near_duplicate", "group": f"near-{group}", "change": change}
        original.plants.append({**tag, "role": "original"})
        corpus.insert(target, Doc(corpus.new_record(target, variant), plants=[{**tag, "role": "variant"}]))


def insert_sentence(rng: random.Random, text: str, sentence: str) -> str:
    """Adds `sentence` as a paragraph between two others (titles stay first, the ending stays whole),
    or at the end of a one-paragraph text."""
    parts = text.split("\n\n")
    parts.insert(rng.randint(1, len(parts) - 1) if len(parts) > 1 else 1, sentence)
    return "\n\n".join(parts)


def pii_values(rng: random.Random, template: str) -> dict[str, str]:
    values = {}
    for kind, pool in PII_VALUES.items():
        if "{" + kind + "}" in template:
            values[kind] = rng.choice(pool)
    if "{email}" in template:
        first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(SURNAMES).lower()
        values["email"] = f"{first}.{last}@example.{rng.choice(('com', 'org', 'net'))}"
    return values


def plant_pii(corpus: Corpus) -> None:
    for source, template in PII:
        doc = corpus.pick_clean(source)
        values = pii_values(corpus.rng, template)
        sentence = template.format(**values)
        text = corpus.text(source, doc)
        if source == "The-Stack":  # a header comment in the language of the file
            comment = "#" if doc.record["lang"] == "Python" else "//"
            text = f"{comment} {sentence}\n{text}"
        else:
            text = insert_sentence(corpus.rng, text, sentence)
        corpus.set_text(source, doc, text)
        doc.plants.append({"kind": "pii", "pii": [{"type": k, "value": v} for k, v in values.items()]})


def plant_urls(corpus: Corpus) -> None:
    for source, template in URLS:
        doc = corpus.pick_clean(source)
        sentence = template.format(slug=corpus.rng.choice(("notes", "intro", "part-2", "faq", "overview")),
                                   n=corpus.rng.randint(1000, 99999))
        url = next(w for w in sentence.split() if "example" in w or "github" in w).rstrip(".")
        corpus.set_text(source, doc, insert_sentence(corpus.rng, corpus.text(source, doc), sentence))
        doc.plants.append({"kind": "url", "urls": [url]})


def plant_non_english(corpus: Corpus) -> None:
    for source, key in NON_ENGLISH:
        record = corpus.new_record(source, FOREIGN[key])
        corpus.insert(source, Doc(record, plants=[{"kind": "non_english", "lang": key[:2]}]))


def truncate(rng: random.Random, text: str) -> str:
    """Cuts mid-sentence in the last third, at a word that carries no punctuation."""
    words = text.split(" ")
    cuts = [i for i in range(len(words) * 2 // 3, len(words) - 2) if words[i].isalpha()]
    return " ".join(words[: rng.choice(cuts) + 1])


def plant_truncated(corpus: Corpus) -> None:
    for source in TRUNCATED:
        doc = corpus.pick_clean(source, 60)
        corpus.set_text(source, doc, truncate(corpus.rng, corpus.text(source, doc)))
        doc.plants.append({"kind": "truncated"})


def plant_short_and_boilerplate(corpus: Corpus) -> None:
    for source, text in SHORT:
        corpus.insert(source, Doc(corpus.new_record(source, text), plants=[{"kind": "short"}]))
    for source, lines, times in BOILERPLATE:
        text = "\n".join(list(lines) * times)
        corpus.insert(source, Doc(corpus.new_record(source, text), plants=[{"kind": "boilerplate"}]))


def contaminated_text(lead: str, item: FixtureItem) -> str:
    """The item verbatim (question, options in order, answer) with only a lead-in line around it, so
    more than half of the document's 13-grams come from the benchmark."""
    if not item.choices:  # gsm8k: question and worked solution
        number = item.answer.rsplit("####", 1)[1].strip()
        return f"{lead}\n\n{item.context}\n{item.answer}\nSo the answer is {number}."
    answer = item.answer if item.answer[-1] in ".?!" else item.answer + "."
    return "\n".join([lead, "", item.context, *item.choices, f"Answer: {answer}"])


def plant_contamination(corpus: Corpus, items: list[FixtureItem]) -> None:
    by_id = {(i.benchmark, i.item_id): i for i in items}
    for source, benchmark, item_id, lead in CONTAMINATION:
        item = by_id[(benchmark, item_id)]
        record = corpus.new_record(source, contaminated_text(lead, item))
        if source == "Orca_math":  # keep its question/answer columns consistent with the text
            record["question"], record["answer"] = item.context, item.answer
        corpus.insert(source, Doc(record, plants=[{"kind": "contamination", "benchmark": benchmark,
                                                   "split": item.split, "item_id": item_id}]))


def plant_malformed(corpus: Corpus) -> None:
    for source, raw, reason in MALFORMED:
        corpus.insert(source, Doc(None, raw=raw, plants=[{"kind": "malformed", "reason": reason}]))


def chat_documents(corpus: Corpus, items: list[FixtureItem]) -> None:
    """The chat sources, from their own generator (CHAT_SEED), with one planted GSM8K item."""
    rng = random.Random(CHAT_SEED)
    for spec in CHAT_SOURCES:
        corpus.docs[spec.name] = [Doc(spec.make(rng, TOPICS[spec.topics[i % len(spec.topics)]]))
                                  for i in range(spec.records - (spec.name == CHAT_CONTAMINATION[0]))]
    source, benchmark, item_id = CHAT_CONTAMINATION
    item = next(i for i in items if (i.benchmark, i.item_id) == (benchmark, item_id))
    record = {"type": "GSM_AnsAug", "query": item.context, "original_question": item.context, "response": item.answer}
    corpus.docs[source].insert(rng.randint(0, len(corpus.docs[source])), Doc(record, plants=[
        {"kind": "contamination", "benchmark": benchmark, "split": item.split, "item_id": item_id}]))


# ---------------------------------------------------------------- writing

def jsonl_bytes(docs: list[Doc]) -> bytes:
    lines = [d.raw if d.raw is not None else json.dumps(d.record, ensure_ascii=False).encode("utf-8") for d in docs]
    return b"".join(line + b"\n" for line in lines)


def write_part(path: Path, fmt: str, docs: list[Doc]) -> None:
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist([d.record for d in docs]), path)
        return
    data = jsonl_bytes(docs)
    if fmt == "jsonl.gz":
        data = gzip.compress(data, mtime=0)  # no timestamp in the header: same bytes every run
    elif fmt == "jsonl.zst":
        data = zstandard.ZstdCompressor(level=10).compress(data)
    path.write_bytes(data)


def split_parts(docs: list[Doc], parts: int) -> list[list[Doc]]:
    size = -(-len(docs) // parts)
    return [docs[i * size:(i + 1) * size] for i in range(parts)]


def write_sources(corpus: Corpus, root: Path) -> tuple[dict, list[dict]]:
    sources, planted = {}, []
    for spec in (*SOURCES, *CHAT_SOURCES):
        folder = root / "sources" / spec.name
        folder.mkdir(parents=True)
        files = []
        for k, part in enumerate(split_parts(corpus.docs[spec.name], spec.files)):
            rel = f"sources/{spec.name}/part-{k}.{spec.fmt}"
            write_part(root / rel, spec.fmt, part)
            files.append(rel)
            for line, doc in enumerate(part, start=1):
                planted += [{"kind": p["kind"], "source": spec.name, "file": rel, "line": line,
                             **{k2: v for k2, v in p.items() if k2 != "kind"}} for p in doc.plants]
        sources[spec.name] = {"format": spec.fmt, "text_field": spec.text_field, "files": files,
                              "records": len(corpus.docs[spec.name])}
    planted.sort(key=lambda p: (p["kind"], p.get("group", ""), p["source"], p["file"], p["line"]))
    return sources, planted


def build(root: Path) -> dict:
    """Writes the whole sample under `root` and returns its manifest."""
    benchmarks, rephrased, items = write_fixtures(root)
    corpus = Corpus(random.Random(SEED))
    normal_documents(corpus, new_documents_per_source())
    plant_exact_duplicates(corpus)
    plant_near_duplicates(corpus)
    plant_pii(corpus)
    plant_urls(corpus)
    plant_truncated(corpus)
    plant_non_english(corpus)
    plant_short_and_boilerplate(corpus)
    plant_contamination(corpus, items)
    plant_malformed(corpus)
    chat_documents(corpus, items)
    sources, planted = write_sources(corpus, root)
    manifest = {"version": 1, "seed": SEED, "sources": sources, "planted": planted,
                "benchmarks": benchmarks, "benchmarks_rephrased": rephrased}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def read_manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text(encoding="utf-8"))


def write_sample(root: Path) -> dict:
    """Writes the sample corpus to `root` once and returns its manifest.

    Safe under concurrent callers: each builds in a private sibling folder and renames it into
    place; the loser of the rename discards its copy and returns the winner's manifest.
    """
    root = Path(root)
    if (root / MANIFEST).is_file():
        return read_manifest(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f"{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        manifest = build(tmp)
        try:
            os.rename(tmp, root)  # atomic; fails when another writer's root is already there
        except OSError:
            if (root / MANIFEST).is_file():
                return read_manifest(root)
            raise FileExistsError(f"{root} exists without a {MANIFEST}: not a sample corpus, remove it first")
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
