"""Hugging Face hub URIs (hf://org/name?config=..&split=..): sources, benchmarks and lm-eval tasks read them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse


def parse_hf_uri(uri: str) -> tuple[str, dict[str, list[str]]]:
    """hf://<org>/<name>?config=..&split=..: (the dataset's hub name, the query parameters)."""
    u = urlparse(uri)
    return (u.netloc + u.path).strip("/"), parse_qs(u.query)
