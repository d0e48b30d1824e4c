"""Benchmark loaders: release and derived formats, on tiny hand-written files, the project fixtures
and the real files in shared/benchmarks (skipped when that folder is absent)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from hare_assets.decontamination.benchmarks import BENCHMARKS, BenchmarkItem, load_benchmark, split_of
from hare_assets.sample import write_sample

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
    with pytest.raises(ValueError, match="supported: " + ", ".join(BENCHMARKS)):
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


# ---------------------------------------------------------------- the project fixtures

@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fixtures") / "sample"
    write_sample(root)
    return root


EXPECTED_FIXTURE_SPLITS = {"mmlu": {"dev": 10, "test": 10}, "arc_challenge": {"test": 8},
                           "truthfulqa": {"validation": 8}, "winogrande": {"dev": 8}, "hellaswag": {"val": 8},
                           "gsm8k": {"test": 8}}


@pytest.mark.parametrize("name", BENCHMARKS)
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
