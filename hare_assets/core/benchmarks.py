"""Benchmark loaders: every item of a benchmark as a `BenchmarkItem`, whatever file it came in.

Reads each benchmark's original release format (MMLU hendrycks CSV, ARC JSONL, TruthfulQA CSV,
WinoGrande JSONL, HellaSwag JSONL, GSM8K JSONL), the derived formats that are often the only copies
at hand (llm-foundry JSONL for ARC and WinoGrande, llama.cpp's 6-line HellaSwag text), and
`hf://<dataset>[?config=...&split=...]` through the optional `datasets` package. Pure code: no dagster.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from hare_assets.core.hf import parse_hf_uri
from hare_assets.core.settings import BENCHMARK_NAMES

SPLIT_WORDS = ("train", "dev", "val", "validation", "test")
# Split of a file whose name and folder do not say (the derived single-split files).
DEFAULT_SPLIT = {"mmlu": "test", "arc_challenge": "test", "truthfulqa": "validation", "winogrande": "dev",
                 "hellaswag": "val", "gsm8k": "test"}
FILE_SUFFIXES = {"mmlu": (".csv",), "arc_challenge": (".jsonl",), "truthfulqa": (".csv",),
                 "winogrande": (".jsonl",), "hellaswag": (".jsonl", ".txt"), "gsm8k": (".jsonl",)}
HF_DEFAULT_CONFIG = {"mmlu": "all", "arc_challenge": "ARC-Challenge", "truthfulqa": "generation",
                     "winogrande": "winogrande_xl", "hellaswag": None, "gsm8k": "main"}
# Hub splits that hold no benchmark items.
HF_NOT_BENCHMARK_SPLITS = {"mmlu": ("auxiliary_train",)}
MMLU_LETTERS = "ABCD"
TRUTHFULQA_COLUMNS = ("Question", "Best Answer", "Correct Answers", "Incorrect Answers")
HELLASWAG_TXT_LINES = 6  # context, label, four endings


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    split: str
    item_id: str
    context: str
    choices: tuple[str, ...]
    gold: int
    answer: str

    @property
    def text(self) -> str:
        """What decontamination matches against: the context, every option and the answer."""
        parts = [self.context, *self.choices]
        if self.answer and self.answer not in self.choices:
            parts.append(self.answer)
        return "\n".join(parts)


# One parsed row -> item. `split` and `default_id` come from the file (or hf split) it was read from.
RowParser = Callable[[object, str, str], BenchmarkItem]


def load_benchmark(name: str, path: str | Path) -> list[BenchmarkItem]:
    """Every item of benchmark `name` under `path` (a file, a folder of splits, or hf://dataset)."""
    if name not in BENCHMARK_NAMES:
        raise ValueError(f"unknown benchmark {name!r}; supported: {', '.join(BENCHMARK_NAMES)}")
    if str(path).startswith("hf://"):
        return _load_hf(name, str(path))
    path = Path(path)
    if path.is_file():
        return _load_file(name, path)[0]
    if path.is_dir():
        return _load_dir(name, path)
    raise FileNotFoundError(f"{name}: no benchmark file or folder at {path}")


# ---------------------------------------------------------------- files and folders

def split_of(name: str, path: Path) -> str:
    """The split a file holds: a split word in its name (last wins), else in its folder's name
    (MMLU's dev/, val/, auxiliary_train/), else the benchmark's default."""
    if name == "truthfulqa":
        return "validation"
    for label in (path.stem, path.parent.name):
        found = [w for w in re.split(r"[^a-z]+", label.lower()) if w in SPLIT_WORDS]
        if found:
            return found[-1]
    return DEFAULT_SPLIT[name]


def _load_file(name: str, path: Path) -> tuple[list[BenchmarkItem], bool]:
    """(items, derived) where derived says the file was in a derived format, not the release one."""
    split = split_of(name, path)
    if name == "mmlu":
        return _csv_items(path, split, _mmlu_row), False
    if name == "truthfulqa":
        return _truthfulqa_items(path, split), False
    if name == "hellaswag" and path.suffix == ".txt":
        return _hellaswag_txt_items(path, split), True
    rows = list(_read_jsonl(path))
    marker = DERIVED_JSONL_KEY.get(name)
    derived = marker is not None and bool(rows) and marker in rows[0][1]
    return _jsonl_items(path, rows, split, JSONL_PARSERS[name]), derived


def _load_dir(name: str, root: Path) -> list[BenchmarkItem]:
    """Every split under `root`, release formats first (they carry the original ids). An item another
    file already gave is skipped: a derived file repeats its split's release items (the shared ARC
    folder has the release subset and the complete derived copy), and a file with the same name in
    another folder is a second copy of that file."""
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and p.suffix in FILE_SUFFIXES[name] and not p.name.startswith("."))
    if not files:
        raise ValueError(f"{name}: no {'/'.join(FILE_SUFFIXES[name])} files under {root}")
    loaded = sorted(((p, *_load_file(name, p)) for p in files), key=lambda t: (t[2], str(t[0])))
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)  # (split, file stem) -> content keys
    taken_ids: set[tuple[str, str]] = set()
    out: list[BenchmarkItem] = []
    for path, items, derived in loaded:
        kept = [it for it in items if not _already_read(seen, it, path.stem, derived)]
        for item in kept:
            seen[(item.split, path.stem)].add(_content_key(item))
            if (item.split, item.item_id) in taken_ids:  # same file stem in another folder
                item = replace(item, item_id=f"{path.parent.relative_to(root).as_posix()}/{item.item_id}")
            taken_ids.add((item.split, item.item_id))
            out.append(item)
    return out


def _already_read(seen: dict[tuple[str, str], set[str]], item: BenchmarkItem, stem: str, derived: bool) -> bool:
    key = _content_key(item)
    if derived:
        return any(key in keys for (split, _), keys in seen.items() if split == item.split)
    return key in seen.get((item.split, stem), ())


def _content_key(item: BenchmarkItem) -> str:
    """Question and gold answer, normalized: derived copies pad or trim the options (llm-foundry ARC)."""
    return " ".join(re.findall(r"[a-z0-9]+", f"{item.context} {item.answer}".lower()))


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{path}: line {line_no}: not a JSON line ({e})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {line_no}: expected a JSON object, got {type(row).__name__}")
            yield line_no, row


def _jsonl_items(path: Path, rows: list[tuple[int, dict]], split: str, parse: RowParser) -> list[BenchmarkItem]:
    items = []
    for line_no, row in rows:
        with _row_errors(path, f"line {line_no}"):
            items.append(parse(row, split, f"{path.stem}:{line_no}"))
    return items


def _csv_items(path: Path, split: str, parse: RowParser) -> list[BenchmarkItem]:
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        for row_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            with _row_errors(path, f"row {row_no}"):
                items.append(parse(row, split, f"{path.stem}:{row_no}"))
    return items


@contextmanager
def _row_errors(path: Path, where: str) -> Iterator[None]:
    """Re-raises a row's parse error as ValueError naming the file and the line or row."""
    try:
        yield
    except KeyError as e:
        raise ValueError(f"{path}: {where}: missing field {e}") from None
    except (TypeError, ValueError, IndexError, AttributeError) as e:
        raise ValueError(f"{path}: {where}: {e}") from None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# ---------------------------------------------------------------- one parser per format

def _mmlu_row(row: list, split: str, default_id: str) -> BenchmarkItem:
    _require(len(row) == 6, f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
    answer = row[5].strip()
    _require(answer in MMLU_LETTERS, f"answer {answer!r} is not one of A, B, C, D")
    choices = tuple(row[1:5])
    gold = MMLU_LETTERS.index(answer)
    return BenchmarkItem("mmlu", split, default_id, row[0], choices, gold, choices[gold])


def _arc_row(row: dict, split: str, default_id: str) -> BenchmarkItem:
    if "query" in row:  # llm-foundry: {"query": "Question: ...", "choices": [...], "gold": i}
        choices, gold = tuple(row["choices"]), int(row["gold"])
        context = row["query"].removeprefix("Question:").strip()
        return BenchmarkItem("arc_challenge", split, default_id, context, choices, gold, choices[gold])
    question = row["question"]
    labels = [c["label"] for c in question["choices"]]
    choices = tuple(c["text"] for c in question["choices"])
    gold = labels.index(row["answerKey"])
    return BenchmarkItem("arc_challenge", split, str(row["id"]), question["stem"], choices, gold, choices[gold])


def _truthfulqa_items(path: Path, split: str) -> list[BenchmarkItem]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in TRUTHFULQA_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: header lacks TruthfulQA columns {missing}")
        items = []
        for row_no, row in enumerate(reader, start=1):
            with _row_errors(path, f"row {row_no}"):
                items.append(_truthfulqa_row(row, split, f"{path.stem}:{row_no}"))
    return items


def _truthfulqa_row(row: dict, split: str, default_id: str) -> BenchmarkItem:
    def answers(cell: str | None) -> list[str]:
        _require(cell is not None, "row has fewer columns than the header")
        return [a.strip() for a in cell.split(";") if a.strip()]

    best = (row["Best Answer"] or "").strip()
    _require(bool(best), "empty Best Answer")
    correct = answers(row["Correct Answers"])
    if best not in correct:
        correct.insert(0, best)
    choices = tuple(correct + answers(row["Incorrect Answers"]))
    return BenchmarkItem("truthfulqa", split, default_id, row["Question"], choices, choices.index(best), best)


def _winogrande_row(row: dict, split: str, default_id: str) -> BenchmarkItem:
    if "context_options" in row:  # llm-foundry: each option filled in, then the shared continuation
        sentence, options = _winogrande_sentence(row["context_options"], row["continuation"])
        gold = int(row["gold"])
        return BenchmarkItem("winogrande", split, default_id, sentence, options, gold, options[gold])
    sentence = row["sentence"]
    _require("_" in sentence, "sentence has no '_' blank")
    options = (row["option1"], row["option2"])
    label = str(row.get("answer") or "")  # the unlabelled test split has none
    gold = int(label) - 1 if label else -1
    return BenchmarkItem("winogrande", split, str(row.get("qID") or default_id), sentence, options, gold,
                         options[gold] if gold >= 0 else "")


def _winogrande_sentence(context_options: list[str], continuation: str) -> tuple[str, tuple[str, str]]:
    """Rebuilds the '_' sentence: the options are what follows the last word both contexts share."""
    first, second = context_options
    shared = 0
    while shared < min(len(first), len(second)) and first[shared] == second[shared]:
        shared += 1
    cut = first.rfind(" ", 0, shared + 1) + 1  # back to a word start: "the pen" / "the pencil"
    joiner = " " if continuation[:1].isalnum() else ""  # "_ was", but "_." and "_'s"
    return f"{first[:cut]}_{joiner}{continuation}", (first[cut:], second[cut:])


def _hellaswag_row(row: dict, split: str, default_id: str) -> BenchmarkItem:
    endings = tuple(row["endings"])
    _require(len(endings) == 4, f"expected 4 endings, got {len(endings)}")
    label = row.get("label")
    gold = int(label) if label not in (None, "") else -1  # the test split is unlabelled
    item_id = str(row["ind"]) if "ind" in row else default_id
    return BenchmarkItem("hellaswag", split, item_id, row["ctx"], endings, gold, endings[gold] if gold >= 0 else "")


def _hellaswag_txt_items(path: Path, split: str) -> list[BenchmarkItem]:
    """llama.cpp's hellaswag_val_full.txt: per item "label: context", gold label, four endings."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) % HELLASWAG_TXT_LINES:
        raise ValueError(f"{path}: {len(lines)} lines is not a multiple of {HELLASWAG_TXT_LINES}")
    items = []
    for start in range(0, len(lines), HELLASWAG_TXT_LINES):
        context, label, *endings = lines[start:start + HELLASWAG_TXT_LINES]
        with _row_errors(path, f"line {start + 2}"):
            gold = int(label)
            _require(0 <= gold < 4, f"label {gold} out of range")
            item_id = f"{path.stem}:{start // HELLASWAG_TXT_LINES + 1}"
            items.append(BenchmarkItem("hellaswag", split, item_id, context, tuple(endings), gold, endings[gold]))
    return items


def _gsm8k_row(row: dict, split: str, default_id: str) -> BenchmarkItem:
    answer = row["answer"]
    _require("####" in answer, "answer has no '#### <number>' line")
    return BenchmarkItem("gsm8k", split, default_id, row["question"], (), -1, answer)


# ---------------------------------------------------------------- Hugging Face datasets

def _load_hf(name: str, uri: str) -> list[BenchmarkItem]:
    """hf://<dataset>[?config=<name>&split=<a>&split=<b>]: every split of the dataset (or the ones
    named), each row mapped onto the release parser of its benchmark. MMLU's `auxiliary_train` (about
    100k items of other datasets, not MMLU) is left out unless asked for by name."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError(f"{uri}: loading hf:// benchmarks needs the 'hf' extra "
                          "(pip install 'hare-platform[hf]')") from e
    dataset, query = parse_hf_uri(uri)
    config = query.get("config", [HF_DEFAULT_CONFIG[name]])[0]
    loaded = datasets.load_dataset(dataset, config)
    splits = query.get("split") or [s for s in sorted(loaded) if s not in HF_NOT_BENCHMARK_SPLITS.get(name, ())]
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise ValueError(f"{uri}: no split {missing} (the dataset has {sorted(loaded)})")
    items = []
    for split in splits:
        for row_no, row in enumerate(loaded[split], start=1):
            with _row_errors(Path(uri), f"split {split} row {row_no}"):
                items.append(_hf_row(name, row, split, f"{split}:{row_no}"))
    return items


def _hf_row(name: str, row: dict, split: str, default_id: str) -> BenchmarkItem:
    """Hub rows differ from the release files in a few field shapes; map them onto the release parsers."""
    if name == "mmlu":
        return _mmlu_row([row["question"], *row["choices"], MMLU_LETTERS[row["answer"]]], split, default_id)
    if name == "arc_challenge":
        choices = [{"text": t, "label": lab} for t, lab in zip(row["choices"]["text"], row["choices"]["label"])]
        release = {"id": row["id"], "question": {"stem": row["question"], "choices": choices},
                   "answerKey": row["answerKey"]}
        return _arc_row(release, split, default_id)
    if name == "truthfulqa":
        release = {"Question": row["question"], "Best Answer": row["best_answer"],
                   "Correct Answers": "; ".join(row["correct_answers"]),
                   "Incorrect Answers": "; ".join(row["incorrect_answers"])}
        return _truthfulqa_row(release, split, default_id)
    return JSONL_PARSERS[name](dict(row), split, default_id)


JSONL_PARSERS: dict[str, RowParser] = {"arc_challenge": _arc_row, "winogrande": _winogrande_row,
                                       "hellaswag": _hellaswag_row, "gsm8k": _gsm8k_row}
# A key only the derived llm-foundry rows have.
DERIVED_JSONL_KEY = {"arc_challenge": "query", "winogrande": "context_options"}
