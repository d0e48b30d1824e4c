"""Shared by the benchmark scripts: the versions line printed above each table."""

import importlib.metadata as md
import platform


def versions(*packages: str) -> str:
    out = [f"python {platform.python_version()}"]
    for pkg in packages:
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)
