"""The Dagster side of `compute: {kind: ray}`: a dagster-ray `RayResource` that joins an existing
cluster (KubeRay, `ray start` on Slurm nodes, or a test's local cluster) at the configured address.

dagster-ray ships `LocalRay` (starts a fresh single-node Ray in the step) and KubeRay resources (create
a cluster per run); neither joins a cluster that is already running at a given address, so this is
the smallest `RayResource` that does. `definitions.py` binds it as the `ray` resource when the config
asks for Ray, and the assets that map batches require that key: every step of a run launched from the
UI connects before its body runs, and disconnects after (dagster-ray's lifecycle).
"""

from __future__ import annotations

from urllib.parse import urlparse

from dagster_ray import RayResource
from pydantic import Field

from hare_assets.core.settings import Compute


class RayCluster(RayResource):
    """An existing Ray cluster; `address` None means Ray's own RAY_ADDRESS."""

    address: str | None = Field(None, description="ray://host:10001, host:6379 or None (RAY_ADDRESS)")

    @property
    def host(self) -> str:
        if not self.address:
            return "127.0.0.1"
        return urlparse(self.address if "://" in self.address else f"ray://{self.address}").hostname or "127.0.0.1"

    @property
    def ray_address(self) -> str | None:  # type: ignore[override]
        return self.address

    @property
    def name(self) -> str:
        return f"Ray cluster at {self.address or 'RAY_ADDRESS'}"

    # It exists already: nothing to create, wait for or delete.
    @property
    def created(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True


def ray_resource(compute: Compute) -> RayCluster:
    return RayCluster(address=compute.address, ray_init_options={"log_to_driver": False})
