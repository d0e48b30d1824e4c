"""`hare export`: a lake dataset or a run's checkpoint as a Hugging Face folder with its card.

Pure code (no Dagster). A dataset export is `DIR/data/train-NNNNN-of-NNNNN.parquet` (the asset's lake
files, copied) plus `DIR/README.md` (the asset's card from `HARE_HOME/cards/<asset>[/<run>]/`), which
`datasets.load_dataset("parquet", data_dir=DIR)` reads as one `train` split. A checkpoint export is the
run's `final/` files (HF model, tokenizer, trainer_state.json) plus a model card rebuilt from the
checkpoint's `card.json` and the run's latest `benchmark_scores` (when they exist), so the exported
card always carries the newest scores. `push` uploads a folder with `HfApi.upload_folder`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from hare_assets.core.cards import (
    CARD_INFO,
    cards_dir,
    dataset_card,
    model_card,
    write_card,
)
from hare_assets.core.lake import asset_dir, parquet_files, parquet_rows


class ExportError(ValueError):
    """Nothing to export, or a target that would be overwritten."""


def _empty_target(out: Path) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty: export into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def lake_files(home: Path, asset: str, run: str | None = None) -> list[Path]:
    """The Parquet files of an asset (one partition with `run`; every partition of a partitioned asset
    without it), leaving out the lake's staging folders."""
    folder = asset_dir(home, asset, run)
    if not folder.is_dir():
        raise ExportError(f"no lake folder {folder}: materialize {asset}" + (f"[{run}]" if run else "") + " first")
    files = parquet_files(folder)
    if not files:
        raise ExportError(f"no Parquet files under {folder}")
    return files


def export_dataset(home: Path, asset: str, out: Path, run: str | None = None) -> Path:
    """Copy the asset's Parquet files and its card into `out`; returns the card's path."""
    files = lake_files(home, asset, run)
    out = _empty_target(out)
    data = out / "data"
    data.mkdir()
    for i, f in enumerate(files):
        shutil.copy2(f, data / f"train-{i:05d}-of-{len(files):05d}.parquet")
    card = cards_dir(home, asset, run) / "README.md"
    if card.is_file():
        shutil.copy2(card, out / "README.md")
        return out / "README.md"
    # An asset without a card of its own (or one materialized before cards existed): a minimal one.
    rows = parquet_rows(files)
    minimal = dataset_card(name=f"HARE {asset}" + (f" ({run})" if run else ""), rows=rows, licenses=["unknown"],
                           source_rows=[], summary=f"The `{asset}` table of the HARE data platform.",
                           sections=[("Card", f"`{asset}` has no card of its own; its licenses are those of its "
                                              "sources (see the d1_documents / decontaminated_documents cards).")])
    return write_card(minimal, out)


def latest_scores(home: Path, run: str) -> list[dict] | None:
    """The run's benchmark_scores rows, or None when they were not materialized."""
    folder = asset_dir(home, "benchmark_scores", run)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return rows or None


def checkpoint_card(home: Path, run: str):
    """The model card of a run's checkpoint, rebuilt with the latest scores; also rewritten in the cards folder."""
    folder = cards_dir(home, "checkpoints", run)
    info_path = folder / CARD_INFO
    if info_path.is_file():
        info = json.loads(info_path.read_text())
    else:  # a checkpoint trained before cards existed: what the folder itself says
        config = Path(home) / "checkpoints" / run / "final" / "config.json"
        info = {"run": run, "preset": json.loads(config.read_text()).get("model_type") if config.is_file() else None}
    card = model_card(info, latest_scores(home, run))
    write_card(card, folder)
    return card


def export_checkpoint(home: Path, run: str, out: Path) -> Path:
    """Copy the run's final/ checkpoint (an HF model folder) and its model card into `out`."""
    final = Path(home) / "checkpoints" / run / "final"
    if not (final / "config.json").is_file():
        raise ExportError(f"no final checkpoint at {final}: materialize checkpoints[{run}] first")
    card = checkpoint_card(home, run)
    out = _empty_target(out)
    for f in sorted(final.iterdir()):
        if f.is_dir():
            shutil.copytree(f, out / f.name)
        else:
            shutil.copy2(f, out / f.name)
    return write_card(card, out)


def push(folder: Path, repo: str, repo_type: str) -> str:
    """Upload a folder to the Hub (or HF_ENDPOINT) with the token in HF_TOKEN; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=os.environ.get("HF_TOKEN"))
    api.create_repo(repo, repo_type=repo_type, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type=repo_type,
                             commit_message="hare export")
    return str(getattr(info, "commit_url", info))
