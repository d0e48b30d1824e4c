"""The embedded sample corpus and benchmark fixtures the default config runs on, offline."""

from pathlib import Path

from hare_assets.core.sample.generator import write_sample
from hare_assets.core.settings import Settings

__all__ = ["ensure_sample", "write_sample"]


def ensure_sample(settings: Settings) -> None:
    """Write the embedded sample corpus on first use when the config asks for it."""
    if settings.sample_corpus.enabled:
        write_sample(Path(settings.sample_corpus.root))
