from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO.parent / "shared" / "benchmarks"


@pytest.fixture
def hare_home(tmp_path, monkeypatch) -> Path:
    """A private HARE_HOME / DAGSTER_HOME and the packaged default config."""
    home = tmp_path / "hare"
    monkeypatch.setenv("HARE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("HARE_CONFIG", raising=False)
    (home / "dagster").mkdir(parents=True)
    return home


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    os.utime(path)
    return path
