"""benchmark_scores and leakage_scores, one partition per checkpoint (training run)."""


import json
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.benchmarks import BenchmarkItem, load_benchmark
from hare_assets.core.generation.cache import Request, text_sha256
from hare_assets.core.generation.run import generate
from hare_assets.core.lake import write_table
from hare_assets.core.meta import markdown_table, table_metadata
from hare_assets.core.partitions import run_partitions
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Backend, Settings
from hare_assets.evaluation.harness import evaluate_checkpoint, v1_scores
from hare_assets.evaluation.lm_eval_tasks import write_tasks
from hare_assets.evaluation.rephrase import (
    TEMPLATE_SHA256,
    rephrase_prompt,
    rephrased_item,
)


def trained_seq_len(checkpoint: Path) -> int | None:
    state = checkpoint / "trainer_state.json"
    return json.loads(state.read_text()).get("seq_len") if state.is_file() else None


def publish_rows(hare: HareResource, table_name: str, run: str, rows: list[dict], summary_key: str) -> dict:
    """Write the run's rows to the lake and warehouse; metadata with a markdown table of them."""
    table = pa.Table.from_pylist(rows)
    write_table(hare.lake(table_name, run), table)
    hare.publish(table_name, table_name, partitioned=True)
    return {**table_metadata(table, n=len(rows)), summary_key: dg.MetadataValue.md(markdown_table(rows))}


def rephrase_through_backend(hare: HareResource, context: dg.AssetExecutionContext, items: list[BenchmarkItem],
                             backend: Backend, max_new_tokens: int) -> tuple[list[BenchmarkItem], str]:
    """(rephrased twins, backend model id) via synthesis.backend and the request cache: the same
    questions are never sent twice, whichever run asks."""
    requests = [Request(TEMPLATE_SHA256, text_sha256(i.context), rephrase_prompt(i)) for i in items]
    model_id, gens, stats = generate(hare, context, requests, backend, max_new_tokens)
    context.log.info(f"rephrasing: {stats.sent} sent, {stats.cache_hits} from the cache")
    return [rephrased_item(item, g.text, index) for index, (item, g) in enumerate(zip(items, gens))], model_id


def reworded(items: list[BenchmarkItem], twins: list[BenchmarkItem]) -> int:
    """Twins whose question differs from the original of the same id (an empty rewrite keeps it)."""
    original = {i.item_id: i.context for i in items}
    return sum(1 for t in twins if t.item_id in original and t.context != original[t.item_id])


def within_error(difference: float, stderr: float | None) -> bool | None:
    """True when the 95% interval (1.96 standard errors) of a difference includes zero: too small to
    call. None without a standard error. dbt_like_sql/ablation_scores.sql applies the same rule."""
    return None if stderr is None else bool(abs(difference) < 1.96 * stderr)


def by_split(items: list[BenchmarkItem], limit: int | None) -> dict[str, list[BenchmarkItem]]:
    out: dict[str, list[BenchmarkItem]] = defaultdict(list)
    for item in items:
        if limit is None or len(out[item.split]) < limit:
            out[item.split].append(item)
    return dict(sorted(out.items()))


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    runs = run_partitions(settings)
    cfg = settings.evaluation
    shots = ", ".join(f"{b.name} {cfg.few_shot.get(b.name, 0)}-shot" for b in settings.benchmarks)
    scored = f"at most {cfg.max_items_per_benchmark} items a benchmark (a subset)" if cfg.max_items_per_benchmark \
        else "every item"

    @asset(
        group_name="evaluation",
        partitions_def=runs,
        deps=["checkpoints"],
        launches=["model_training"],
        config=[settings.benchmarks, cfg.max_items_per_benchmark, cfg.few_shot,
                cfg.gsm8k_max_new_tokens],
        kinds={"pytorch"},
        description=("The run's final checkpoint scored with lm-eval's simple_evaluate under the Open LLM "
                     f"Leaderboard v1 settings ({shots}; arc_challenge and hellaswag acc_norm, truthfulqa_mc2, "
                     "MMLU the unweighted mean of the subject accuracies, winogrande acc, gsm8k strict-match), on "
                     f"{scored}. lm-eval's own task files, on the hub "
                     "datasets for hf:// benchmarks and on local files otherwise; hf model on CPU, vllm with a "
                     "GPU. Each row carries its stderr, the items scored against the split the v1 leaderboard scored "
                     "(`subset` when fewer) and the shots beside the protocol's. Rows land in the warehouse; the "
                     "leaderboard model sets them beside Table 1 and ranks only comparable ones."),
    )
    def benchmark_scores(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        cfg = settings.evaluation
        run = context.partition_key
        checkpoint = hare.final_checkpoint(run, f"benchmark_scores[{run}]")
        folder = hare.root / "evaluation" / run
        spec = write_tasks(settings.benchmarks, cfg.few_shot, folder / "lm_eval_tasks", cfg.gsm8k_max_new_tokens)
        results = evaluate_checkpoint(checkpoint, spec, cfg.backend, cfg.max_items_per_benchmark, cfg.batch_size,
                                      trained_seq_len(checkpoint))
        results_path = folder / "lm_eval_results.json"
        results_path.write_text(json.dumps(results, indent=1, default=str))
        arm = run in settings.training.ablation_arms
        parts = "+".join(settings.mixture.runs[run].parts)
        rows = [{"run": run, **row, "ablation_arm": arm, "mix_parts": parts} for row in v1_scores(results, spec)]
        average = sum(r["value"] for r in rows) / len(rows)
        return dg.MaterializeResult(metadata={
            **publish_rows(hare, "benchmark_scores", run, rows, "scores"),
            "average": average,
            "lm_eval_version": str(results.get("lm_eval_version", "")),
            "lm_eval_backend": results["hare_backend"],
            "lm_eval_results": dg.MetadataValue.path(str(results_path)),
            "lm_eval_tasks": dg.MetadataValue.path(str(spec.folder)),
        })

    @asset(
        group_name="evaluation",
        partitions_def=runs,
        deps=["checkpoints"],
        launches=["model_training"],
        config=[settings.benchmarks, cfg.leakage_ngram, cfg.leakage_starts,
                cfg.leakage_max_items, cfg.rephrase_max_new_tokens, settings.synthesis.backend],
        kinds={"pytorch"},
        description=(f"Benchmark leakage (Xu et al. 2024): benbench n-gram accuracy of the checkpoint on each "
                     f"benchmark's original (D) and rephrased (D') items per split ({cfg.leakage_ngram}-grams from "
                     f"{cfg.leakage_starts} starting points); delta = D - D' (paper "
                     "Table 6, there in points: delta_pct). A large delta suggests the benchmark leaked into "
                     "training; below 0 the model does better on the rephrased set. D' is the benchmark's "
                     "`rephrased_uri` when configured, else rewritten through synthesis.backend (request-cached) "
                     "with the options reordered. Each split row carries its items scored against the split's "
                     "size (`subset`), delta_stderr (the two sets as independent samples) and "
                     "delta_within_error (the 95% interval includes zero)."),
    )
    def leakage_scores(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        settings = hare.settings()
        cfg = settings.evaluation
        run = context.partition_key
        from model_training.evaluate import leakage_delta, load_checkpoint

        model, tokenizer = load_checkpoint(hare.final_checkpoint(run, f"leakage_scores[{run}]"))
        rows, rephrased_files = [], {}
        for bench in settings.benchmarks:
            items_in_data = load_benchmark(bench.name, bench.uri)
            split_sizes = Counter(i.split for i in items_in_data)
            original = by_split(items_in_data, cfg.leakage_max_items)
            if bench.rephrased_uri:
                rephrased = by_split(load_benchmark(bench.name, bench.rephrased_uri), cfg.leakage_max_items)
                made_by = "file"
            else:
                flat = [i for items in original.values() for i in items]
                twins, made_by = rephrase_through_backend(hare, context, flat, settings.synthesis.backend,
                                                             cfg.rephrase_max_new_tokens)
                rephrased = by_split(twins, None)
                path = hare.root / "evaluation" / run / "rephrased" / f"{bench.name}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(json.dumps(asdict(t)) + "\n" for t in twins))
                rephrased_files[bench.name] = str(path)
            for split, items in original.items():
                twins = rephrased.get(split, [])
                if not twins:
                    context.log.warning(f"{bench.name}: no rephrased items for split {split!r}; no delta")
                    continue
                scores = leakage_delta(model, tokenizer, [i.text for i in items], [i.text for i in twins],
                                       cfg.leakage_ngram, cfg.leakage_starts)
                if scores is None:
                    context.log.warning(f"{bench.name}/{split}: every item too short for a {cfg.leakage_ngram}-gram")
                    continue
                rows.append({"run": run, "benchmark": bench.name, "split": split, "n_original": len(items),
                             "n_rephrased": len(twins), "n_in_split": split_sizes[split],
                             "subset": len(items) < split_sizes[split],
                             "n_scored_original": scores["scored_original"],
                             "n_scored_rephrased": scores["scored_rephrased"],
                             "ngram_acc_original": scores["original"],
                             "ngram_acc_rephrased": scores["rephrased"], "delta": scores["delta"],
                             "delta_pct": 100 * scores["delta"], "delta_stderr": scores["delta_stderr"],
                             "delta_within_error": within_error(scores["delta"], scores["delta_stderr"]),
                             "rephrased_by": made_by, "questions_reworded": reworded(items, twins)})
        return dg.MaterializeResult(metadata={**publish_rows(hare, "leakage_scores", run, rows, "deltas"),
                                              "rephrased_files": dg.MetadataValue.json(rephrased_files)})

    return [benchmark_scores, leakage_scores]
