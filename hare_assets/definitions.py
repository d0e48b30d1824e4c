"""The one Dagster code location: every dataset of the HARE system as an asset, groups = stages."""

from __future__ import annotations

import dagster as dg

from hare_assets.cleaning.assets import build_cleaned_documents, build_d1_signals
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import load_settings
from hare_assets.decontamination.assets import (
    benchmark_ngrams,
    contamination_report,
    decontaminated_documents,
)
from hare_assets.dedup.assets import build_d1_documents
from hare_assets.evaluation.assets import build_evaluation_assets
from hare_assets.mixture.assets import build_mixture_assets, run_partitions
from hare_assets.sources.assets import build_raw_documents
from hare_assets.sql_models.assets import sql_model_assets
from hare_assets.synthesis.assets import d2_documents, d3_samples
from hare_assets.topics.assets import synthesis_seeds, topic_clusters
from hare_assets.training.assets import build_ablation_job, build_checkpoints

EXPENSIVE_GROUPS = ("training", "evaluation")


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    runs = run_partitions(settings)  # shared by mix, shards, checkpoints and scores: identity mapping
    assets = [
        build_raw_documents(settings),
        build_d1_signals(settings),
        build_cleaned_documents(settings),
        build_d1_documents(),
        topic_clusters, synthesis_seeds,
        d2_documents, d3_samples,
        benchmark_ngrams, decontaminated_documents, contamination_report,
        *build_mixture_assets(runs),
        build_checkpoints(runs),
        *build_evaluation_assets(runs),
        *sql_model_assets(),
    ]
    # Data stages follow their inputs when the sensor is on; training and evaluation never start by themselves.
    assets = dg.map_asset_specs(
        lambda spec: spec if spec.group_name in EXPENSIVE_GROUPS
        else spec.replace_attributes(automation_condition=dg.AutomationCondition.eager()), assets)
    automation = dg.AutomationConditionSensorDefinition(
        "hare_automation",
        target=dg.AssetSelection.all() - dg.AssetSelection.groups(*EXPENSIVE_GROUPS),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Keeps the data stages (not training or evaluation) up to date with their inputs. Off by default.",
    )
    return dg.Definitions(
        assets=assets,
        sensors=[automation],
        jobs=[build_ablation_job()],
        resources={"hare": HareResource(), "training_pipes_client": dg.PipesSubprocessClient()},
    )


defs = build_definitions()
