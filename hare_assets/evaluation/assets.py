"""benchmark_scores and leakage_scores, one partition per checkpoint (training run)."""


from collections import defaultdict

import dagster as dg
import pyarrow as pa

from ..decontamination.benchmarks import load_benchmark
from ..lake import write_table
from ..meta import code_version, markdown_table, table_metadata
from ..resources import HareResource
from .scoring import METRIC, as_choice_item, eval_set, few_shot_prefix


def load_run_model(hare: HareResource, run: str):
    """(model, tokenizer) of the run's final checkpoint; torch is imported only when scoring."""
    from model_training.evaluate import load_checkpoint

    path = hare.root / "checkpoints" / run / "final"
    if not path.is_dir():
        raise dg.Failure(f"no final checkpoint for run {run!r} at {path}: materialize checkpoints[{run}] first")
    return load_checkpoint(path)


def publish_rows(hare: HareResource, table_name: str, run: str, rows: list[dict], summary_key: str) -> dict:
    """Write the run's rows to the lake and warehouse; metadata with a markdown table of them."""
    table = pa.Table.from_pylist(rows)
    write_table(hare.lake(table_name, run), table)
    hare.publish(table_name, table_name, partitioned=True)
    return {**table_metadata(table, n=len(rows)), summary_key: dg.MetadataValue.md(markdown_table(rows))}


def build_evaluation_assets(runs: dg.StaticPartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        group_name="evaluation",
        partitions_def=runs,
        deps=["checkpoints"],
        code_version=code_version("evaluation"),
        kinds={"pytorch"},
        description=("Scores of the run's final checkpoint on the six benchmarks with the v1 leaderboard's "
                     "shot counts: log-likelihood multiple choice (acc, acc_norm) and greedy exact match for "
                     "GSM8K, on up to max_items_per_benchmark items. First version: a direct scorer; the lm-eval "
                     "`simple_evaluate` protocol (truthfulqa mc2, winogrande partial scoring, MMLU subject "
                     "average) is owned by the training/evaluation issue."),
    )
    def benchmark_scores(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        cfg = settings.evaluation
        run = context.partition_key
        from model_training.evaluate import greedy_exact_match, multiple_choice_accuracy

        model, tokenizer = load_run_model(hare, run)
        rows = []
        for bench in settings.benchmarks:
            es = eval_set(bench.name, load_benchmark(bench.name, bench.uri), cfg.few_shot.get(bench.name, 0),
                          cfg.max_items_per_benchmark)
            prefix = few_shot_prefix(es.shots)
            if bench.name == "gsm8k":
                scores = greedy_exact_match(model, tokenizer, [{"question": prefix + i.context, "answer": i.answer}
                                                               for i in es.items], cfg.gsm8k_max_new_tokens)
            else:
                items = [as_choice_item(i) for i in es.items]
                for item in items:
                    item["context"] = prefix + item["context"]
                scores = multiple_choice_accuracy(model, tokenizer, items)
            metric = METRIC[bench.name]
            rows.append({"run": run, "benchmark": bench.name, "split": es.split, "metric": metric,
                         "value": float(scores[metric]), "n_items": len(es.items), "few_shot": len(es.shots)})
        average = sum(r["value"] for r in rows) / len(rows)
        return dg.MaterializeResult(metadata={**publish_rows(hare, "benchmark_scores", run, rows, "scores"),
                                              "average": average})

    @dg.asset(
        group_name="evaluation",
        partitions_def=runs,
        deps=["checkpoints"],
        code_version=code_version("evaluation"),
        kinds={"pytorch"},
        description=("Benchmark leakage (Xu et al. 2024): 5-gram accuracy of the checkpoint on each benchmark's "
                     "original (D) and rephrased (D') items per split; delta = D - D'. A large delta suggests "
                     "the benchmark leaked into training. Rephrased sets come from each benchmark's "
                     "`rephrased_uri` (the sample ships project-written ones)."),
    )
    def leakage_scores(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        cfg = settings.evaluation
        run = context.partition_key
        from model_training.evaluate import ngram_accuracy

        model, tokenizer = load_run_model(hare, run)
        rows = []
        for bench in settings.benchmarks:
            if not bench.rephrased_uri:
                context.log.warning(f"{bench.name}: no rephrased_uri configured; no leakage delta")
                continue
            by_split: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"original": [], "rephrased": []})
            for kind, uri in (("original", bench.uri), ("rephrased", bench.rephrased_uri)):
                for item in load_benchmark(bench.name, uri):
                    by_split[item.split][kind].append(item.text)
            for split, texts in sorted(by_split.items()):
                n = cfg.max_items_per_benchmark
                d = ngram_accuracy(model, tokenizer, texts["original"][:n], cfg.leakage_ngram, cfg.leakage_starts)
                d_r = ngram_accuracy(model, tokenizer, texts["rephrased"][:n], cfg.leakage_ngram, cfg.leakage_starts)
                rows.append({"run": run, "benchmark": bench.name, "split": split,
                             "n_items": min(n, len(texts["original"])),
                             "ngram_acc_original": float(d["accuracy"]), "ngram_acc_rephrased": float(d_r["accuracy"]),
                             "delta": float(d["accuracy"] - d_r["accuracy"])})
        return dg.MaterializeResult(metadata=publish_rows(hare, "leakage_scores", run, rows, "deltas"))

    return [benchmark_scores, leakage_scores]
