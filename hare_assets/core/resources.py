"""Resources: where data lives (HARE_HOME: lake + warehouse) and the active config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from hare_assets.core.lake import asset_dir, parquet_glob, recover_lake
from hare_assets.core.settings import Settings, hare_home, load_settings
from hare_assets.core.warehouse import Warehouse


class HareResource(dg.ConfigurableResource):
    """The data root and config of this deployment (defaults: HARE_HOME, HARE_CONFIG)."""

    home: str = ""
    # With `compute: {kind: ray}`: the dagster-ray resource (core.ray_resource.RayCluster), set up
    # with this one so every step joins the cluster before its body maps batches (core.compute).
    ray: dg.ConfigurableResource | None = None

    @property
    def root(self) -> Path:
        return Path(self.home).resolve() if self.home else hare_home()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run that was killed inside a lake commit is finished (and its staging removed) before any step reads.
        recover_lake(self.root)

    def settings(self) -> Settings:
        return load_settings()

    def lake(self, asset: str, partition: str | None = None) -> Path:
        return asset_dir(self.root, asset, partition)

    def final_checkpoint(self, run: str, needed_by: str, made_by: str | None = None) -> Path:
        """`checkpoints/<run>/final`, or a failure saying what needs it and what to materialize first
        (`made_by`: the asset that writes it, by default checkpoints[run])."""
        path = self.root / "checkpoints" / run / "final"
        if not path.is_dir():
            raise dg.Failure(f"{needed_by} needs the final checkpoint of run {run!r} at {path}, which does not "
                             f"exist: materialize {made_by or f'checkpoints[{run}]'} first")
        return path

    def warehouse(self) -> Warehouse:
        return Warehouse(self.root / "warehouse.duckdb")

    def publish(self, table: str, asset: str, partitioned: bool) -> None:
        """Expose a lake folder as a warehouse view of the same name."""
        self.warehouse().register_view(table, parquet_glob(self.root, asset, partitioned))
