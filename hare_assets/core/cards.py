"""Hugging Face dataset and model cards for HARE's datasets and checkpoints.

Pure code (no Dagster): the assets and `hare export` call it. A card is a README.md with a YAML header
(`DatasetCardData` / `ModelCardData`: license(s), size_categories, source_datasets, task_categories, ...)
and a markdown body. Cards live under `HARE_HOME/cards/<asset>[/<partition>]/README.md`, outside the
lake, so the lake's atomic folder swaps never touch them and lake readers never see them; the assets
also attach the body as their `card` metadata. A checkpoint also keeps `card.json` (what its model
card is built from) beside the card, so `hare export` can rebuild the model card with the scores
that exist at export time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from hare_assets.core.markdown import markdown_table
from hare_assets.core.provenance import LICENSE_COLUMNS, license_shares

# The Hub's size_categories buckets (number of rows).
SIZE_BUCKETS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
HF_DATASETS = "https://huggingface.co/datasets/"
CARD_INFO = "card.json"  # beside a checkpoint's model card: what the card is built from
PAPER = "[HARE](https://arxiv.org/abs/2406.11410)"


def cards_dir(home: Path, asset: str, partition: str | None = None) -> Path:
    d = Path(home) / "cards" / asset
    return d / partition if partition else d


def size_category(rows: int) -> str:
    for limit, label in SIZE_BUCKETS:
        if rows < limit:
            return label
    return "n>1T"


def card_licenses(licenses: Iterable[str]) -> list[str]:
    """Distinct license ids in first-seen order ("unknown" when there are none)."""
    ids = list(dict.fromkeys(x for x in licenses if x))
    return ids or ["unknown"]


def source_datasets(rows: Iterable[Mapping]) -> list[str]:
    """`extended|<hub id>` for each source whose homepage is a Hub dataset; `original` for synthetic data."""
    out = []
    for r in rows:
        home = r.get("homepage") or ""
        if home.startswith(HF_DATASETS):
            out.append("extended|" + home[len(HF_DATASETS):].strip("/"))
        elif r.get("part") in ("d2_synthetic", "d3_restruct") or r.get("source") in ("d2_synthetic", "d3_restruct"):
            out.append("original")
    return sorted(set(out))


def _blank(rows: Iterable[Mapping]) -> list[dict]:
    """Rows with None shown as an empty cell."""
    return [{k: ("" if v is None else v) for k, v in r.items()} for r in rows]


def license_section(rows: Sequence[Mapping]) -> str:
    shares = license_shares(rows) if rows and "share" in rows[0] else {}
    text = markdown_table(_blank(rows), [c for c in LICENSE_COLUMNS if not rows or c in rows[0]], width=120)
    if shares:
        text += "\n\nToken share per license: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()) + "."
    notes = [f"- **{r['source']}**: {r['license_note']}" for r in rows if r.get("license_note")]
    if notes:
        text += "\n\nLicense notes (from the sources' dataset cards; check them before reuse):\n\n" + "\n".join(notes)
    return text


def render_body(title: str, summary: str, sections: Sequence[tuple[str, str]]) -> str:
    parts = [f"# {title}", summary]
    parts += [f"## {heading}\n\n{text}" for heading, text in sections]
    return "\n\n".join(parts) + "\n"


def dataset_card(*, name: str, summary: str, rows: int, licenses: Iterable[str], source_rows: Sequence[Mapping],
                 sections: Sequence[tuple[str, str]], task_categories: Sequence[str] = ("text-generation",),
                 tags: Sequence[str] = ("hare", "synthetic", "pretraining")) -> DatasetCard:
    """A dataset card: header from DatasetCardData, body = summary + sections (heading, markdown)."""
    data = DatasetCardData(
        pretty_name=name, license=card_licenses(licenses), language=["en"], size_categories=[size_category(rows)],
        source_datasets=source_datasets(source_rows) or None, task_categories=list(task_categories), tags=list(tags),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}])
    sections = [*sections, ("Sources and licenses", license_section(source_rows))] if source_rows else list(sections)
    body = render_body(name, summary + f"\n\nBuilt by the HARE data platform, after the {PAPER} paper; "
                       f"{rows:,} rows.", sections)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def scores_section(scores: Sequence[Mapping] | None) -> str:
    if not scores:
        return ("No benchmark_scores at the time this card was written; `hare export checkpoints --run RUN` "
                "rewrites the card with the latest scores.")
    cols = [c for c in ("benchmark", "metric", "value", "stderr", "n_items", "n_items_full", "subset", "few_shot",
                        "split") if c in scores[0]]
    note = "\n\nScores of the Open LLM Leaderboard v1 tasks through lm-eval."
    if any(s.get("subset") for s in scores):
        note += (" A `subset` score rests on fewer items than the leaderboard scored (`n_items_full`): it is "
                 "not comparable with published numbers.")
    return markdown_table(_blank(scores), cols) + note


def model_card(info: Mapping, scores: Sequence[Mapping] | None = None) -> ModelCard:
    """A model card from a checkpoint's card.json (`info`: run, preset, run_config, licenses, mix,
    shards_data_version, metrics, ...) and its benchmark_scores rows when they exist."""
    run = info["run"]
    rows = list(info.get("licenses") or [])
    licenses = card_licenses(r["license"] for r in rows)
    eval_results = None
    if scores:
        from huggingface_hub import EvalResult

        eval_results = [EvalResult(task_type="text-generation", dataset_type=str(s["benchmark"]),
                                   dataset_name=str(s["benchmark"]), metric_type=str(s.get("metric") or "acc"),
                                   metric_value=float(s["value"]), dataset_split=s.get("split") or None)
                        for s in scores]
    data = ModelCardData(
        model_name=f"hare-{run}", license=licenses[0] if len(licenses) == 1 else "other",
        language=["en"], library_name="transformers", pipeline_tag="text-generation",
        tags=["hare", "mistral", "pretraining"], datasets=source_datasets(rows) or None,
        eval_results=eval_results)
    cfg = info.get("run_config") or {}
    metrics = {k: v for k, v in (info.get("metrics") or {}).items() if isinstance(v, (int, float, str))}
    sections = [
        ("Data", f"Trained on the `{run}` mix (parts: {', '.join(info.get('parts') or []) or 'see the mix'}): "
                 f"{info.get('mix_tokens', 0):,} tokens of documents in the shards.\n\n" + license_section(rows)
                 + ("\n\nThe card's `license` is `other` because the sources carry several licenses; every source's "
                    "license and share is listed above." if len(licenses) > 1 else "")),
        ("Lineage", markdown_table([
            {"what": "tokenized_shards data version", "value": info.get("shards_data_version") or "unknown"},
            {"what": "shards folder", "value": cfg.get("shards_dir")},
            {"what": "initialized from", "value": cfg.get("init_from") or "random init (seeded)"},
            {"what": "checkpoint data version", "value": info.get("data_version") or "unknown"},
            {"what": "Dagster run", "value": info.get("dagster_run") or "unknown"}])),
        ("Training config", "```json\n" + json.dumps(cfg, indent=2, sort_keys=True) + "\n```"
         + ("\n\n" + markdown_table([{"metric": k, "value": v} for k, v in sorted(metrics.items())]) if metrics else "")),
        ("Scores", scores_section(scores)),
        ("Limitations", "On the embedded sample the model is tiny and trained for a few steps: its outputs and "
                        "scores exercise the code path and are not meaningful."),
    ]
    body = render_body(f"hare-{run}", f"A Mistral-architecture causal LM (`{info.get('preset')}` preset) trained by "
                       f"the HARE data platform, after the {PAPER} paper.", sections)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_card(card: DatasetCard | ModelCard, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "README.md"
    tmp = folder / "README.md.tmp"
    tmp.write_text(str(card), encoding="utf-8")
    tmp.replace(path)
    return path
