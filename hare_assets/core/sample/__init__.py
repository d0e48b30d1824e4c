"""The embedded sample corpus and benchmark fixtures the default config runs on, offline."""

from hare_assets.core.sample.generator import write_sample

__all__ = ["write_sample"]
