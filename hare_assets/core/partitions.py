"""The run partitions: mix, shards, checkpoint and scores share them, so partition k maps to k."""

from __future__ import annotations

import dagster as dg

from hare_assets.core.settings import Settings


def run_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(settings.mixture.runs))

