"""The one way a stage builds an asset: Dagster's `@asset` with a code version derived from what the
function runs (core.code_version) and the config it reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import dagster as dg

from hare_assets.core.code_version import code_version


def asset(*, config: Iterable[object] = (), launches: Sequence[str] = (),
          **asset_args) -> Callable[[Callable], dg.AssetsDefinition]:
    """`@asset(config=[settings.cleaning], group_name=..., ...)`: `config` is what the asset reads,
    `launches` the local packages it runs in a child process; the rest goes to `dg.asset`."""
    config = list(config)

    def build(fn: Callable) -> dg.AssetsDefinition:
        return dg.asset(code_version=code_version(fn, launches=launches, config=config), **asset_args)(fn)

    return build
