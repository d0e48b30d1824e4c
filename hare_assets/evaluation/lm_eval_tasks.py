"""lm-eval task files for the Open LLM Leaderboard v1 protocol, from the configured benchmarks.

Each benchmark becomes lm-eval task YAML that `include`s lm-eval's own built-in task (prompt,
choices, target, metric and filters stay exactly lm-eval's) and overrides only what the v1
leaderboard fixes (the number of shots) and where the data comes from:

- an `hf://` benchmark uri reads the hub dataset it names (the built-in task's schema);
- a local file or folder (any format `decontamination.benchmarks.load_benchmark` reads) is
  converted to JSONL docs in the hub schema of that task and read through lm-eval's own
  `dataset_path: json` + `data_files` mechanism, so nothing downloads.

    spec = write_tasks(benchmarks, few_shot, Path("tasks/"), gsm8k_max_new_tokens=256)
    spec.tasks            # ["hare_arc_challenge", "hare_mmlu_astronomy", ...] for simple_evaluate
    spec.benchmarks["mmlu"].tasks  # the 57 (or the local) subject tasks, averaged unweighted

Pure code: no dagster, and lm-eval is imported only for the location of its task folder.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hare_assets.core.benchmarks import BenchmarkItem, load_benchmark
from hare_assets.core.hf import parse_hf_uri


@dataclass(frozen=True)
class V1Task:
    """A benchmark as the v1 leaderboard scored it: lm-eval's built-in task file, shots, metric."""

    builtin: str  # path under lm_eval/tasks/
    shots: int
    metric: str  # the key in lm-eval's results: "<metric>,<filter>"
    label: str  # the metric's name in the warehouse
    eval_splits: tuple[str, ...]  # where our local items are scored, first present split wins
    shot_splits: tuple[str, ...]  # where the few-shot examples come from
    full_items: int  # items in the split the v1 leaderboard scored: fewer scored is a subset


V1_TASKS: dict[str, V1Task] = {
    "arc_challenge": V1Task("arc/arc_challenge.yaml", 25, "acc_norm,none", "acc_norm",
                            ("test", "validation", "val", "dev"), ("train", "dev", "validation", "val"), 1172),
    "hellaswag": V1Task("hellaswag/hellaswag.yaml", 10, "acc_norm,none", "acc_norm",
                        ("validation", "val", "dev", "test"), ("train",), 10042),
    "truthfulqa": V1Task("truthfulqa/truthfulqa_mc2.yaml", 0, "acc,none", "mc2", ("validation",), (), 817),
    "mmlu": V1Task("mmlu/default/_default_template_yaml", 5, "acc,none", "acc",
                   ("test", "val", "validation"), ("dev", "val", "train"), 14042),
    "winogrande": V1Task("winogrande/default.yaml", 5, "acc,none", "acc",
                         ("validation", "dev", "val", "test"), ("train",), 1267),
    "gsm8k": V1Task("gsm8k/gsm8k.yaml", 5, "exact_match,strict-match", "exact_match_strict", ("test",),
                    ("train",), 1319),
}
TASK_PREFIX = "hare_"
LETTERS = "ABCDE"
MMLU_SPLIT_SUFFIX = re.compile(r"_(test|dev|val|validation|train)$")


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).resolve().parent


def mmlu_subjects() -> list[str]:
    """The 57 subjects, from lm-eval's own per-subject task files."""
    folder = lm_eval_tasks_dir() / "mmlu" / "default"
    return sorted(p.stem.removeprefix("mmlu_") for p in folder.glob("mmlu_*.yaml"))


@dataclass
class BenchmarkTasks:
    """The lm-eval tasks that make up one benchmark's v1 score (MMLU: one per subject)."""

    benchmark: str
    metric: str
    source: str  # "hub" or "local"
    split: str
    tasks: list[str] = field(default_factory=list)


@dataclass
class TaskSpec:
    folder: Path
    benchmarks: dict[str, BenchmarkTasks]

    @property
    def tasks(self) -> list[str]:
        return [t for b in self.benchmarks.values() for t in b.tasks]


# ------------------------------------------------------------------ our items -> the hub schemas


def arc_doc(item: BenchmarkItem) -> dict:
    labels = list(LETTERS[: len(item.choices)])
    return {"id": item.item_id, "question": item.context,
            "choices": {"text": list(item.choices), "label": labels}, "answerKey": labels[item.gold]}


def hellaswag_doc(item: BenchmarkItem) -> dict:
    """Already in the processed form (query, choices, label), as lm-eval's process_docs makes it,
    with lm-eval's own `preprocess`: our items carry ctx (with the activity label when the file has it)."""
    from lm_eval.tasks.hellaswag.utils import preprocess

    return {"query": preprocess(item.context), "choices": [preprocess(e) for e in item.choices], "label": item.gold}


def winogrande_doc(item: BenchmarkItem) -> dict:
    return {"sentence": item.context, "option1": item.choices[0], "option2": item.choices[1],
            "answer": str(item.gold + 1)}


def mmlu_doc(item: BenchmarkItem) -> dict:
    return {"question": item.context, "subject": mmlu_subject(item), "choices": list(item.choices), "answer": item.gold}


def gsm8k_doc(item: BenchmarkItem) -> dict:
    return {"question": item.context, "answer": item.answer}


DOC_BUILDERS = {"arc_challenge": arc_doc, "hellaswag": hellaswag_doc, "winogrande": winogrande_doc,
                "mmlu": mmlu_doc, "gsm8k": gsm8k_doc}


def mmlu_subject(item: BenchmarkItem) -> str:
    """The subject from the file the item came from: 'astronomy_test:3' -> 'astronomy'."""
    stem = item.item_id.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return MMLU_SPLIT_SUFFIX.sub("", stem)


def truthfulqa_docs(uri: str | Path) -> list[dict]:
    """mc1/mc2 targets from TruthfulQA.csv: mc2 needs which answers are correct, which the shared
    BenchmarkItem (one gold choice) does not keep. Same answer splitting as the release loader."""
    path = Path(uri)
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    docs = []
    for file in files:
        with open(file, newline="", encoding="utf-8") as f:
            for row_no, row in enumerate(csv.DictReader(f), start=2):
                def answers(column: str) -> list[str]:
                    return [a.strip() for a in (row.get(column) or "").split(";") if a.strip()]

                best = (row.get("Best Answer") or "").strip()
                if not best or row.get("Question") is None:
                    raise ValueError(f"{file}: line {row_no}: needs Question and Best Answer")
                correct = [best] + [a for a in answers("Correct Answers") if a != best]
                incorrect = answers("Incorrect Answers")
                docs.append({"question": row["Question"],
                             "mc1_targets": {"choices": [best, *incorrect], "labels": [1] + [0] * len(incorrect)},
                             "mc2_targets": {"choices": correct + incorrect,
                                             "labels": [1] * len(correct) + [0] * len(incorrect)}})
    return docs


# ------------------------------------------------------------------ task files


def _first_split(by_split: dict[str, list], order: tuple[str, ...], exclude: str | None = None) -> str | None:
    return next((s for s in order if s != exclude and by_split.get(s)), None)


def _write_jsonl(path: Path, docs: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return str(path)


def _write_yaml(folder: Path, config: dict) -> str:
    (folder / f"{config['task']}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config["task"]


def _local_split_config(name: str, eval_split: str, shot_split: str | None, eval_file: str,
                        shot_file: str | None, shots: int, cache_dir: Path) -> dict:
    """Data overrides for local docs: the scored split is always `test_split`, so lm-eval drops the
    scored doc from its own few-shot context when both come from the same split."""
    data_files = {eval_split: eval_file}
    if shot_split:
        data_files[shot_split] = shot_file
    return {"dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": data_files, "cache_dir": str(cache_dir)},
            "training_split": None, "validation_split": None, "test_split": eval_split,
            "fewshot_split": shot_split or eval_split, "num_fewshot": shots}


def _shots_available(requested: int, pool: int, same_split: bool) -> int:
    return max(0, min(requested, pool - (1 if same_split else 0)))


def _hub_source(uri: str) -> dict:
    dataset, query = parse_hf_uri(uri)
    source = {"dataset_path": dataset}
    if "config" in query:
        source["dataset_name"] = query["config"][0]
    return source


def write_tasks(benchmarks, few_shot: dict[str, int], folder: Path, gsm8k_max_new_tokens: int) -> TaskSpec:
    """Task YAML (and local docs) for every configured benchmark under `folder`.

    `benchmarks`: items with `.name` and `.uri` (the config's `benchmarks` list); `few_shot`: shots
    per benchmark (the v1 counts by default; fewer when a local split holds fewer examples).
    """
    folder.mkdir(parents=True, exist_ok=True)
    builtin_root = lm_eval_tasks_dir()
    spec = TaskSpec(folder, {})
    for bench in benchmarks:
        v1 = V1_TASKS[bench.name]
        shots = few_shot.get(bench.name, v1.shots)
        extra = {}
        if bench.name == "gsm8k":  # the whole dict: an include merges keys shallowly
            extra["generation_kwargs"] = {"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": False,
                                          "temperature": 0.0, "max_gen_toks": gsm8k_max_new_tokens}
        if bench.name == "hellaswag":
            extra["process_docs"] = None  # local docs are written already processed (see hellaswag_doc)
        if str(bench.uri).startswith("hf://"):
            entry = BenchmarkTasks(bench.name, v1.metric, "hub", "(lm-eval default)")
            subjects = mmlu_subjects() if bench.name == "mmlu" else [None]
            for subject in subjects:
                include = builtin_root / (f"mmlu/default/mmlu_{subject}.yaml" if subject else v1.builtin)
                source = _hub_source(str(bench.uri))
                if subject:  # each subject task names its own hub config
                    source.pop("dataset_name", None)
                config = {"include": str(include), "task": f"{TASK_PREFIX}{bench.name}" + (f"_{subject}" if subject else ""),
                          "num_fewshot": shots, **source, **extra}
                config.pop("process_docs", None)  # hub docs go through lm-eval's own processing
                entry.tasks.append(_write_yaml(folder, config))
            spec.benchmarks[bench.name] = entry
            continue
        spec.benchmarks[bench.name] = _write_local(bench, v1, shots, folder, builtin_root, extra)
    return spec


def _write_local(bench, v1: V1Task, shots: int, folder: Path, builtin_root: Path, extra: dict) -> BenchmarkTasks:
    data = folder / "data" / bench.name
    cache_dir = folder / "hf_datasets_cache"
    if bench.name == "truthfulqa":
        eval_file = _write_jsonl(data / "validation.jsonl", truthfulqa_docs(bench.uri))
        config = {"include": str(builtin_root / v1.builtin), "task": f"{TASK_PREFIX}truthfulqa",
                  **_local_split_config("truthfulqa", "validation", None, eval_file, None, 0, cache_dir)}
        return BenchmarkTasks("truthfulqa", v1.metric, "local", "validation", [_write_yaml(folder, config)])

    items = [i for i in load_benchmark(bench.name, bench.uri) if bench.name == "gsm8k" or i.gold >= 0]
    groups: dict[str | None, dict[str, list[BenchmarkItem]]] = defaultdict(lambda: defaultdict(list))
    for item in items:  # MMLU: one task per subject, as the v1 leaderboard averaged them
        groups[mmlu_subject(item) if bench.name == "mmlu" else None][item.split].append(item)
    entry = BenchmarkTasks(bench.name, v1.metric, "local", "")
    build = DOC_BUILDERS[bench.name]
    for subject, by_split in sorted(groups.items(), key=lambda kv: kv[0] or ""):
        eval_split = _first_split(by_split, v1.eval_splits)
        if eval_split is None:
            continue  # only few-shot material for this subject
        shot_split = _first_split(by_split, v1.shot_splits, exclude=eval_split)
        name = f"{TASK_PREFIX}{bench.name}" + (f"_{subject}" if subject else "")
        eval_file = _write_jsonl(data / f"{name}.{eval_split}.jsonl", [build(i) for i in by_split[eval_split]])
        shot_file = (_write_jsonl(data / f"{name}.{shot_split}.jsonl", [build(i) for i in by_split[shot_split]])
                     if shot_split else None)
        pool = len(by_split[shot_split or eval_split])
        config = {"include": str(builtin_root / v1.builtin), "task": name,
                  **_local_split_config(bench.name, eval_split, shot_split, eval_file, shot_file,
                                        _shots_available(shots, pool, shot_split is None), cache_dir),
                  **extra}
        if subject:
            config["description"] = f"The following are multiple choice questions (with answers) about " \
                                    f"{subject.replace('_', ' ')}.\n\n"
        entry.split = eval_split
        entry.tasks.append(_write_yaml(folder, config))
    if not entry.tasks:
        raise ValueError(f"benchmark {bench.name} at {bench.uri}: no labelled items in any of the splits "
                         f"{', '.join(v1.eval_splits)}")
    return entry
