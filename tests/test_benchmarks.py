"""Benchmark loaders: release and derived formats, on tiny hand-written files, the project fixtures
and the real files in shared/benchmarks (skipped when that folder is absent)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from hare_assets.core.benchmarks import (
    BenchmarkItem,
    load_benchmark,
    split_of,
)
from hare_assets.core.sample import write_sample
from hare_assets.core.settings import BENCHMARK_NAMES

REAL = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def write_lines(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- formats on tiny files

def test_mmlu_csv_rows_and_split_from_the_file_name(tmp_path):
    path = tmp_path / "dev" / "anatomy_dev.csv"
    path.parent.mkdir()
    path.write_text('"Which bone, in the arm, is longest?",Ulna,Humerus,Radius,Carpal,B\n2 + 2 = ?,1,2,3,4,D\n')
    items = load_benchmark("mmlu", path)
    assert items[0] == BenchmarkItem("mmlu", "dev", "anatomy_dev:1", "Which bone, in the arm, is longest?",
                                     ("Ulna", "Humerus", "Radius", "Carpal"), 1, "Humerus")
    assert items[1].gold == 3 and items[1].text == "2 + 2 = ?\n1\n2\n3\n4"


def test_arc_release_and_llm_foundry_rows(tmp_path):
    release = {"id": "Q1", "question": {"stem": "Which is a gas?", "choices": [
        {"text": "ice", "label": "A"}, {"text": "steam", "label": "B"}]}, "answerKey": "B"}
    foundry = {"query": "Question: Which is a liquid?", "choices": ["water", "rock"], "gold": 0}
    [item] = load_benchmark("arc_challenge", write_lines(tmp_path / "ARC-Challenge-Dev.jsonl", [release]))
    assert (item.split, item.item_id, item.context, item.gold, item.answer) == (
        "dev", "Q1", "Which is a gas?", 1, "steam")
    [item] = load_benchmark("arc_challenge", write_lines(tmp_path / "arc_challenge.jsonl", [foundry]))
    assert (item.split, item.item_id, item.context, item.choices, item.gold) == (
        "test", "arc_challenge:1", "Which is a liquid?", ("water", "rock"), 0)


def test_truthfulqa_choices_are_correct_then_incorrect_and_gold_is_the_best_answer(tmp_path):
    path = tmp_path / "TruthfulQA.csv"
    path.write_text("Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
                    "Adversarial,Myths,Do cats have nine lives?,No,Cats have one life; No,Yes; Nine,https://x\n"
                    "Adversarial,Myths,Is the sky green?,No it is not,It is blue,Yes,https://x\n")
    first, second = load_benchmark("truthfulqa", path)
    assert first.choices == ("Cats have one life", "No", "Yes", "Nine") and first.gold == 1
    assert first.split == "validation" and first.item_id == "TruthfulQA:1"
    assert second.choices[0] == "No it is not" and second.gold == 0  # best answer missing from the list: added


def test_winogrande_release_and_derived_rows_give_the_same_item(tmp_path):
    release = {"qID": "A-1", "sentence": "Ann paid Beth because _ owed money.", "option1": "Ann",
               "option2": "Beth", "answer": "1"}
    [item] = load_benchmark("winogrande", write_lines(tmp_path / "dev.jsonl", [release]))
    assert (item.split, item.item_id, item.context, item.choices, item.gold) == (
        "dev", "A-1", "Ann paid Beth because _ owed money.", ("Ann", "Beth"), 0)
    derived = [{"context_options": ["Ann paid Beth because Ann", "Ann paid Beth because Beth"],
                "continuation": "owed money.", "gold": 0},
               {"context_options": ["I used the pen not the pencil since the pen", "I used the pen not the pencil "
                                    "since the pencil"], "continuation": "'s tip broke.", "gold": 1},
               {"context_options": ["It was safer at the plant", "It was safer at the factory"],
                "continuation": ".", "gold": 1}]
    items = load_benchmark("winogrande", write_lines(tmp_path / "winogrande.jsonl", derived))
    assert (items[0].context, items[0].choices) == (item.context, item.choices)
    assert (items[1].context, items[1].choices) == ("I used the pen not the pencil since the _'s tip broke.",
                                                    ("pen", "pencil"))
    assert (items[2].context, items[2].answer) == ("It was safer at the _.", "factory")


def test_hellaswag_jsonl_and_llama_cpp_text(tmp_path):
    row = {"ind": 7, "activity_label": "Cooking", "ctx_a": "A man cracks an egg.", "ctx_b": "he", "ctx":
           "A man cracks an egg. he", "endings": ["a", "b", "c", "d"], "source_id": "x", "split": "val",
           "split_type": "indomain", "label": 2}
    [item] = load_benchmark("hellaswag", write_lines(tmp_path / "hellaswag_val.jsonl", [row]))
    assert (item.split, item.item_id, item.context, item.gold, item.answer) == ("val", "7", row["ctx"], 2, "c")
    txt = tmp_path / "hellaswag_val_full.txt"
    txt.write_text("Cooking: A man cracks an egg. he\n0\nfries it.\nsings.\nflies.\nsleeps.\n")
    [item] = load_benchmark("hellaswag", txt)
    assert (item.split, item.item_id, item.context, item.answer) == (
        "val", "hellaswag_val_full:1", "Cooking: A man cracks an egg. he", "fries it.")


def test_gsm8k_keeps_the_whole_solution_as_the_answer(tmp_path):
    row = {"question": "What is 2 + 3?", "answer": "2 + 3 = <<2+3=5>>5\n#### 5"}
    [item] = load_benchmark("gsm8k", write_lines(tmp_path / "train.jsonl", [row]))
    assert (item.split, item.item_id, item.choices, item.gold, item.answer) == (
        "train", "train:1", (), -1, row["answer"])
    assert item.text == "What is 2 + 3?\n" + row["answer"]


@pytest.mark.parametrize("name, split", [
    ("ARC-Challenge-Test.jsonl", "test"), ("ARC-Easy-Train.jsonl", "train"), ("train_xl.jsonl", "train"),
    ("hellaswag_val_full.txt", "val"), ("college_physics_dev.csv", "dev"), ("winogrande.jsonl", "dev"),
])
def test_split_comes_from_the_name_then_the_folder_then_the_default(name, split):
    benchmark = {"csv": "mmlu", "txt": "hellaswag"}.get(name.rsplit(".", 1)[1], "winogrande")
    assert split_of(benchmark, Path("somewhere") / name) == split
    assert split_of("mmlu", Path("data") / "val" / "anatomy.csv") == "val"
    assert split_of("mmlu", Path("data") / "auxiliary_train" / "race.csv") == "train"


def test_a_folder_merges_a_derived_copy_of_a_split_without_repeating_items(tmp_path):
    release = {"id": "Q1", "question": {"stem": "Which is a gas?", "choices": [
        {"text": "ice", "label": "A"}, {"text": "steam", "label": "B"}, {"text": "sand", "label": "C"}]},
        "answerKey": "B"}
    write_lines(tmp_path / "ARC-Challenge-Test.jsonl", [release])
    write_lines(tmp_path / "arc_challenge.jsonl", [  # the first repeats Q1 (options padded), the second is new
        {"query": "Question: Which is a gas?", "choices": ["ice", "steam", "sand", "ice"], "gold": 1},
        {"query": "Question: Which is a metal?", "choices": ["iron", "wood"], "gold": 0}])
    items = load_benchmark("arc_challenge", tmp_path)
    assert [i.item_id for i in items] == ["Q1", "arc_challenge:2"]


@pytest.mark.parametrize("name, filename, content, where", [
    ("gsm8k", "test.jsonl", '{"question": "q", "answer": "#### 1"}\n{"question": "broken\n', "line 2"),
    ("gsm8k", "test.jsonl", '{"question": "q", "answer": "no marker"}\n', "line 1"),
    ("arc_challenge", "ARC-Challenge-Test.jsonl", '{"id": "x", "question": {"stem": "s"}}\n', "line 1"),
    ("mmlu", "x_test.csv", "q,a,b,c,d,A\nq,a,b,c,d\n", "row 2"),
    ("mmlu", "x_test.csv", "q,a,b,c,d,E\n", "row 1"),
    ("winogrande", "dev.jsonl", '{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}\n',
     "line 1"),
    ("hellaswag", "hellaswag_val_full.txt", "ctx\n9\na\nb\nc\nd\n", "line 2"),
    ("hellaswag", "hellaswag_val_full.txt", "ctx\n1\na\n", "not a multiple of 6"),
    ("truthfulqa", "TruthfulQA.csv", "Type,Question\nA,q\n", "header lacks"),
])
def test_malformed_files_name_the_file_and_place(tmp_path, name, filename, content, where):
    path = tmp_path / filename
    path.write_text(content)
    with pytest.raises(ValueError) as err:
        load_benchmark(name, path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_unknown_benchmark_lists_the_supported_names(tmp_path):
    with pytest.raises(ValueError, match="supported: " + ", ".join(BENCHMARK_NAMES)):
        load_benchmark("squad", tmp_path)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_benchmark("gsm8k", tmp_path / "nope")
    with pytest.raises(ValueError, match="no .jsonl files"):
        load_benchmark("gsm8k", tmp_path)


def test_hf_path_without_the_datasets_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(ImportError, match="'hf' extra"):
        load_benchmark("gsm8k", "hf://openai/gsm8k")


# Rows as the hub datasets hold them (field names and shapes of each dataset's parquet files).
HUB_ROWS = {
    ("mmlu", "cais/mmlu", "all"): {
        "test": [{"question": "2 + 2 = ?", "subject": "math", "choices": ["1", "2", "3", "4"], "answer": 3}],
        "dev": [{"question": "Which is a bone?", "subject": "anatomy", "choices": ["ulna", "iron", "gas", "ice"],
                 "answer": 0}],
        "auxiliary_train": [{"question": "not MMLU", "subject": "", "choices": ["a", "b", "c", "d"], "answer": 1}]},
    ("arc_challenge", "allenai/ai2_arc", "ARC-Challenge"): {
        "train": [{"id": "Mercury_1", "question": "Which is a gas?",
                   "choices": {"text": ["ice", "steam", "rock"], "label": ["A", "B", "C"]}, "answerKey": "B"}],
        "test": [{"id": "NYSEDREGENTS_2", "question": "Which is a liquid?",
                  "choices": {"text": ["water", "salt", "sand", "wood"], "label": ["1", "2", "3", "4"]},
                  "answerKey": "1"}]},
    ("truthfulqa", "truthfulqa/truthful_qa", "generation"): {
        "validation": [{"type": "Adversarial", "category": "Myths", "question": "Do cats have nine lives?",
                        "best_answer": "No", "correct_answers": ["No", "Cats have one life"],
                        "incorrect_answers": ["Yes"], "source": "https://x"}]},
    ("winogrande", "allenai/winogrande", "winogrande_xl"): {
        "train": [{"sentence": "The cup fell off the table because _ was wobbly.", "option1": "the cup",
                   "option2": "the table", "answer": "2"}],
        "test": [{"sentence": "Ann thanked Beth because _ had helped.", "option1": "Ann", "option2": "Beth",
                  "answer": ""}]},
    ("hellaswag", "Rowan/hellaswag", None): {
        "validation": [{"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is on a roof.",
                        "ctx_b": "he", "ctx": "A man is on a roof. he", "endings": ["a", "b", "c", "d"],
                        "source_id": "x", "split": "val", "split_type": "indomain", "label": "2"}]},
    ("gsm8k", "openai/gsm8k", "main"): {
        "train": [{"question": "What is 2 + 3?", "answer": "2 + 3 = <<2+3=5>>5\n#### 5"}],
        "test": [{"question": "What is 4 * 2?", "answer": "4 * 2 = 8\n#### 8"}]},
}


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """`datasets.load_dataset` answered from local JSONL files in the hub's row shapes (no network):
    a split -> rows mapping, which is all the loader uses of a DatasetDict."""
    files = {}
    for (name, dataset, config), splits in HUB_ROWS.items():
        for split, rows in splits.items():
            files[(dataset, config, split)] = write_lines(tmp_path / dataset / f"{config}-{split}.jsonl", rows)
    calls = []

    def load_dataset(path, name=None):
        calls.append((path, name))
        found = {split: p for (d, c, split), p in files.items() if (d, c) == (path, name)}
        if not found:
            raise FileNotFoundError(f"no local copy of {path} {name}")
        return {s: [json.loads(line) for line in p.read_text().splitlines()] for s, p in found.items()}

    monkeypatch.setitem(sys.modules, "datasets", type(sys)("datasets"))
    sys.modules["datasets"].load_dataset = load_dataset
    return calls


def test_hf_loader_reads_every_split_of_each_hub_dataset(local_hub):
    items = {name: load_benchmark(name, f"hf://{dataset}") for (name, dataset, _) in HUB_ROWS}
    assert local_hub == [(dataset, config) for (_, dataset, config) in HUB_ROWS]  # default configs
    assert {n: sorted({i.split for i in its}) for n, its in items.items()} == {
        "mmlu": ["dev", "test"], "arc_challenge": ["test", "train"], "truthfulqa": ["validation"],
        "winogrande": ["test", "train"], "hellaswag": ["validation"], "gsm8k": ["test", "train"]}
    mmlu = {i.split: i for i in items["mmlu"]}
    assert (mmlu["test"].answer, mmlu["test"].text) == ("4", "2 + 2 = ?\n1\n2\n3\n4")
    arc = {i.split: i for i in items["arc_challenge"]}
    assert (arc["train"].item_id, arc["train"].answer) == ("Mercury_1", "steam")
    assert arc["test"].answer == "water"  # numeric labels, as some ARC items have
    [tqa] = items["truthfulqa"]
    assert tqa.choices == ("No", "Cats have one life", "Yes") and tqa.answer == "No"
    wino = {i.split: i for i in items["winogrande"]}
    assert wino["train"].answer == "the table" and wino["test"].gold == -1 and wino["test"].answer == ""
    [hs] = items["hellaswag"]
    assert (hs.item_id, hs.context, hs.answer) == ("24", "A man is on a roof. he", "c")
    gsm = {i.split: i for i in items["gsm8k"]}
    assert gsm["train"].text == "What is 2 + 3?\n2 + 3 = <<2+3=5>>5\n#### 5"
    # MMLU's auxiliary_train is other datasets' items: only read when asked for by name.
    [aux] = load_benchmark("mmlu", "hf://cais/mmlu?split=auxiliary_train")
    assert aux.context == "not MMLU"
    with pytest.raises(ValueError, match="no split"):
        load_benchmark("gsm8k", "hf://openai/gsm8k?split=validation")
    [one] = load_benchmark("gsm8k", "hf://openai/gsm8k?config=main&split=test")
    assert one.split == "test"


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_text_matched_is_the_question_plus_every_option_and_the_answer(sample_root, name):
    for item in load_benchmark(name, sample_root / "benchmarks" / name):
        assert item.context and item.text.startswith(item.context + "\n")
        rest = item.text[len(item.context) + 1:]
        if item.choices:  # every option, in order, one per line; the answer is one of them
            assert rest.split("\n") == list(item.choices) and item.answer in item.choices
        else:  # GSM8K: the worked solution with its final answer
            assert rest == item.answer and "####" in rest


# ---------------------------------------------------------------- the project fixtures

@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fixtures") / "sample"
    write_sample(root)
    return root


EXPECTED_FIXTURE_SPLITS = {"mmlu": {"dev": 10, "test": 10}, "arc_challenge": {"test": 8},
                           "truthfulqa": {"validation": 8}, "winogrande": {"dev": 8}, "hellaswag": {"val": 8},
                           "gsm8k": {"test": 8}}


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_each_loader_reads_the_project_fixtures(sample_root, name):
    items = load_benchmark(name, sample_root / "benchmarks" / name)
    assert dict(Counter(i.split for i in items)) == EXPECTED_FIXTURE_SPLITS[name]
    assert len({(i.split, i.item_id) for i in items}) == len(items)
    for item in items:
        assert item.benchmark == name and item.context and item.answer
        if name == "gsm8k":
            assert item.gold == -1 and "####" in item.answer
        else:
            assert item.choices[item.gold] == item.answer
        if name == "winogrande":
            assert item.context.count("_") == 1


# ---------------------------------------------------------------- the real files

def real(*parts: str) -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real benchmark files not found at {REAL} (the shared/ folder beside the checkout)")
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_real_gsm8k_splits():
    items = load_benchmark("gsm8k", real("gsm8k"))
    assert Counter(i.split for i in items) == {"train": 7473, "test": 1319}
    first = next(i for i in items if i.split == "test")
    assert first.item_id == "test:1" and first.context.startswith("Janet’s ducks lay 16 eggs per day.")
    assert first.answer.endswith("#### 18")


def test_real_mmlu_dev_and_test_folders():
    dev = load_benchmark("mmlu", real("mmlu", "dev"))
    assert len(dev) == 285 and len({i.item_id.split(":")[0] for i in dev}) == 57
    first = next(i for i in dev if i.item_id == "abstract_algebra_dev:1")
    assert first.context == "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field." and first.answer == "1"
    test = load_benchmark("mmlu", real("mmlu", "test"))
    assert len(test) == 14079 and {i.split for i in test} == {"test"}  # the pre-release count (SOURCES.md)


def test_real_arc_release_subset_derived_copy_and_their_merge():
    release = load_benchmark("arc_challenge", real("arc_challenge", "ARC-Challenge-Test.jsonl"))
    assert len(release) == 1150
    assert (release[0].item_id, release[0].gold, release[0].answer) == (
        "Mercury_7175875", 2, "Planetary days will become shorter.")
    derived = load_benchmark("arc_challenge", real("arc_challenge", "arc_challenge.jsonl"))
    assert len(derived) == 1172 and derived[0].context == release[0].context
    merged = load_benchmark("arc_challenge", real("arc_challenge"))
    assert Counter(i.split for i in merged) == {"test": 1172, "dev": 294}


def test_real_truthfulqa():
    items = load_benchmark("truthfulqa", real("truthfulqa", "TruthfulQA.csv"))
    assert len(items) == 817
    assert items[0].context == "What happens to you if you eat watermelon seeds?"
    assert items[0].answer == "The watermelon seeds pass through your digestive system" and len(items[0].choices) == 12


def test_real_hellaswag_text_format():
    items = load_benchmark("hellaswag", real("hellaswag", "hellaswag_val_full.txt"))
    assert len(items) == 10042 and {i.split for i in items} == {"val"}
    assert items[0].context == "Roof shingle removal: A man is sitting on a roof. he"
    assert items[0].answer == "starts pulling up roofing on a roof."


def test_real_winogrande_derived_rows_match_the_release_labels():
    items = load_benchmark("winogrande", real("winogrande", "winogrande.jsonl"))
    assert len(items) == 1267
    assert items[0].context == "Sarah was a much better surgeon than Maria so _ always got the easier cases."
    assert items[0].choices == ("Sarah", "Maria") and items[0].gold == 1
    labels = real("winogrande", "dev-labels.lst").read_text().split()
    assert [str(i.gold + 1) for i in items] == labels
    assert all(i.context.count("_") >= 1 for i in items)
