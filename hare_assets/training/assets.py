"""checkpoints: model_training launched through Dagster Pipes, one partition per run."""


import json
from pathlib import Path

import dagster as dg

from hare_assets.core.asset import asset
from hare_assets.core.cards import CARD_INFO, cards_dir, model_card, write_card
from hare_assets.core.lake import StagedDir, staged
from hare_assets.core.launch import launch_command, train_run_json
from hare_assets.core.meta import card_metadata, inline_png, markdown_table
from hare_assets.core.partitions import run_partitions
from hare_assets.core.provenance import (
    LICENSE_COLUMNS,
    license_shares,
    rows_from_manifest,
)
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Settings, TrainRun


class TrainingFolder(StagedDir):
    """A run trains in a fixed staging folder, `checkpoints/.staging/<run>`: a killed or failed run resumes
    there from its newest checkpoint, and the finished run is swapped in whole, so `checkpoints/<run>`
    keeps the previous complete run until then."""

    def __init__(self, dest: Path):
        super().__init__(dest)
        self.tmp = self.staging / self.dest.name

    def discard(self) -> None:
        """Kept: the next run resumes from it."""


def run_config(settings: Settings, run: str, cfg: TrainRun, hare: HareResource, output_dir: Path) -> dict:
    init_from = hare.final_checkpoint(cfg.init_from, f"checkpoints[{run}]") if cfg.init_from else None
    return train_run_json(settings.training, cfg, hare.lake("tokenized_shards", run), output_dir, init_from)


def data_version(context: dg.AssetExecutionContext, asset: str, run: str) -> str | None:
    """The latest data version of `asset`[run]: the shards a run read, or the checkpoint it continued from."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[run]), limit=1).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get("dagster/data_version")


def shard_licenses(shards_dir: Path) -> list[dict]:
    """The license rows (source, part, license, tokens, share, homepage) of the shards a run trained on."""
    manifest = Path(shards_dir) / "manifest.json"
    return rows_from_manifest(json.loads(manifest.read_text())) if manifest.is_file() else []


def build_checkpoints(settings: Settings) -> dg.AssetsDefinition:
    training = settings.training
    launcher = (f"DeepSpeed ZeRO-{training.deepspeed_zero_stage} under the deepspeed launcher"
                if training.launcher == "deepspeed" else "plain torch under the python launcher")
    presets = ", ".join(f"{name} {r.preset}" + (f" from {r.init_from}" if r.init_from else "")
                        for name, r in training.runs.items())

    @asset(
        group_name="training",
        partitions_def=run_partitions(settings),
        deps=["tokenized_shards"],
        # The launcher and command prefix say where it runs, not what it computes: left out.
        launches=["model_training"],
        config=[training.runs, training.deepspeed_zero_stage],
        kinds={"pytorch"},
        description=("A training run of model_training (HF MistralForCausalLM, AdamW, warmup + cosine, "
                     f"grad accumulation and clipping; {launcher}; runs: {presets}) on the run's "
                     "tokenized_shards, launched through Dagster Pipes; a run `from` another continues from its "
                     "final checkpoint. Reports loss, tokens, tokens/s, MFU, a loss curve, the checkpoint path "
                     "and the shards' data version; its data version is the checkpoint's content hash."),
    )
    def checkpoints(context: dg.AssetExecutionContext, hare: HareResource,
                    training_pipes_client: dg.ResourceParam[dg.PipesClient]) -> dg.MaterializeResult:
        settings = hare.settings()
        run = context.partition_key
        out = hare.root / "checkpoints" / run
        folder = TrainingFolder(out)
        cfg = run_config(settings, run, settings.training.runs[run], hare, folder.tmp)
        config_path = out.parent / f"{run}.run.json"
        with staged(folder):
            config_path.write_text(json.dumps(cfg, indent=2))
            # PipesSubprocessClient by default; a PipesK8sClient (or any Pipes client taking `command`) on a cluster.
            result = training_pipes_client.run(
                context=context,
                command=launch_command(settings.training, config_path),
            ).get_materialize_result()
        # The trainer reported paths in the staging folder; the run now lives at `out`.
        moved = {k: dg.MetadataValue.path(str(out / Path(v.value).relative_to(folder.tmp)))
                 for k, v in (result.metadata or {}).items()
                 if isinstance(v, dg.PathMetadataValue) and Path(v.value).is_relative_to(folder.tmp)}
        metadata = {**(result.metadata or {}), **moved}
        curve = Path(metadata["loss_curve_png"].value)
        licenses = shard_licenses(Path(cfg["shards_dir"]))
        shards_version = data_version(context, "tokenized_shards", run) or "unknown"
        run_cfg = settings.training.runs[run]
        # A fine-tune (chat) or stage 2: the exact base checkpoint it started from, beside its path in run_config.
        base = ({"init_from_data_version": data_version(context, "checkpoints", run_cfg.init_from) or "unknown"}
                if run_cfg.init_from else {})
        # What the model card is built from, kept beside it: `hare export` rebuilds the card with the latest scores.
        info = {"run": run, "preset": cfg["preset"], "parts": list(settings.mixture.runs[run].parts),
                "mix_tokens": sum(r["tokens"] for r in licenses), "licenses": licenses, "run_config": cfg,
                "shards_data_version": shards_version, "data_version": result.data_version.value
                if result.data_version else None, "dagster_run": context.run_id,
                "metrics": {k: v.value for k, v in metadata.items()
                            if isinstance(getattr(v, "value", None), (int, float))}}
        card_folder = cards_dir(hare.root, "checkpoints", run)
        card_folder.mkdir(parents=True, exist_ok=True)
        (card_folder / CARD_INFO).write_text(json.dumps(info, indent=2, default=str))
        card = model_card(info)  # checkpoints runs before benchmark_scores: the scores come at export time
        card_path = write_card(card, card_folder)
        return dg.MaterializeResult(
            metadata={**metadata,
                      **card_metadata(card, card_path),
                      "loss_curve": dg.MetadataValue.md(f"{inline_png(curve, 'loss curve')}\n\n`{curve}`"),
                      "tokenized_shards_data_version": shards_version,
                      **base,
                      "launcher": settings.training.launcher,
                      "dagster_run": dg.MetadataValue.dagster_run(context.run_id),
                      "run_config": dg.MetadataValue.json(cfg),
                      # What the run saw: every source's license and token share, from its shards' manifest.
                      "licenses": dg.MetadataValue.md(markdown_table(licenses, LICENSE_COLUMNS)),
                      "license_shares": dg.MetadataValue.json(license_shares(licenses)),
                      "source_licenses": dg.MetadataValue.json({r["source"]: {k: r[k] for k in ("part", "license", "tokens", "share")} for r in licenses})},
            data_version=result.data_version,
        )

    return checkpoints


# What one ablation arm needs from the decontaminated documents on: its mix, shards, checkpoint and
# scores, then the SQL model that compares the arms.
ABLATION_ASSETS = ("training_mix", "tokenized_shards", "checkpoints", "benchmark_scores", "leakage_scores",
                   "ablation_scores")


def build_ablation_job():
    return dg.define_asset_job(
        "ablation",
        selection=dg.AssetSelection.assets(*ABLATION_ASSETS),
        description=("The paper's data ablation: one run per arm (training.ablation_arms: D1, D1+D2, D1+D2+D3 on "
                     "the 0.25B preset, same seed, init and hyperparameters), each mixing, training and scoring "
                     "its arm; ablation_scores then compares them. `hare materialize --job ablation` runs all "
                     "arms; in the UI, backfill the job over the arm partitions."),
        tags={"hare/job": "ablation"},
    )


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [build_checkpoints(settings)]
