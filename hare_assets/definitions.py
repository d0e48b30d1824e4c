"""The one Dagster code location: every dataset of the HARE system as an asset, groups = stages.

Each stage exposes `build_assets(settings)`; this is the only module (with the CLI) that sees them all.
"""

from __future__ import annotations

import dagster as dg

from hare_assets.cleaning import assets as cleaning_assets
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Settings, load_settings
from hare_assets.decontamination import assets as decontamination_assets
from hare_assets.dedup import assets as dedup_assets
from hare_assets.evaluation import assets as evaluation_assets
from hare_assets.finetuning import assets as finetuning_assets
from hare_assets.mixture import assets as mixture_assets
from hare_assets.sources import assets as sources_assets
from hare_assets.sql_models import assets as sql_model_assets
from hare_assets.synthesis import assets as synthesis_assets
from hare_assets.tool import assets as tool_assets
from hare_assets.topics import assets as topics_assets
from hare_assets.training import assets as training_assets

# In data-flow order (the order of the README's asset table).
STAGES = (sources_assets, cleaning_assets, dedup_assets, topics_assets, synthesis_assets, finetuning_assets,
          decontamination_assets, mixture_assets, training_assets, evaluation_assets, tool_assets, sql_model_assets)
EXPENSIVE_GROUPS = ("training", "evaluation", "tool")


def hare_resource(settings: Settings) -> HareResource:
    if settings.compute.kind == "ray":
        from hare_assets.core.ray_resource import ray_resource  # the [ray] extra

        return HareResource(ray=ray_resource(settings.compute))
    return HareResource()


def build_definitions() -> dg.Definitions:
    settings = load_settings()  # read once: every stage builds its assets from the same config
    assets = [asset for stage in STAGES for asset in stage.build_assets(settings)]
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
        jobs=[training_assets.build_ablation_job()],
        resources={"hare": hare_resource(settings), "training_pipes_client": dg.PipesSubprocessClient()},
    )


defs = build_definitions()
