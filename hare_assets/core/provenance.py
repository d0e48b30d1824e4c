"""Where the data of a mix comes from: each source's license, homepage and citation, and its token share.

Pure code (no Dagster). The configured sources carry `license` / `license_note` / `homepage` / `citation`
(settings.Source); the two synthetic pools of the mix (`d2_synthetic`, `d3_restruct`) are not configured
sources and get SYNTHETIC here. The shard manifest, `training_mix` and `checkpoints` all hold the rows
`license_rows` returns, so a checkpoint names the license and token share of every source it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SYNTHETIC_NOTE = ("synthetic: generated through synthesis.backend from seed documents of the configured sources; "
                  "the generator model's terms and the seeds' licenses apply")
SYNTHETIC = {"d2_synthetic": "d2", "d3_restruct": "d3"}


def source_provenance(sources: Iterable[Any]) -> dict[str, dict]:
    """name -> {license, license_note, homepage, citation} of the configured sources (settings.Source),
    plus the synthetic pools."""
    out = {s.name: {"license": s.license, "license_note": s.license_note, "homepage": s.homepage,
                    "citation": s.citation} for s in sources}
    for name in SYNTHETIC:
        out.setdefault(name, {"license": "other", "license_note": SYNTHETIC_NOTE, "homepage": None, "citation": None})
    return out


def license_rows(composition: Mapping, provenance: Mapping[str, Mapping]) -> list[dict]:
    """One row per source of a mix: part, source, license, tokens, share (of the mix's tokens; the shares
    sum to 1 when the mix holds tokens), documents, license_note, homepage.

    composition: `mixture.sampling.mix_composition`'s dict (its "sources" are keyed "part/source").
    A source missing from `provenance` gets license "unknown".
    """
    total = sum(int(v["tokens"]) for v in composition["sources"].values())
    rows = []
    for key, v in composition["sources"].items():
        part, source = key.split("/", 1)
        p = provenance.get(source, {})
        rows.append({"part": part, "source": source, "license": p.get("license") or "unknown",
                     "tokens": int(v["tokens"]), "share": int(v["tokens"]) / total if total else 0.0,
                     "documents": int(v["documents"]), "license_note": p.get("license_note"),
                     "homepage": p.get("homepage")})
    return sorted(rows, key=lambda r: (-r["tokens"], r["part"], r["source"]))


def license_shares(rows: Iterable[Mapping]) -> dict[str, float]:
    """license id -> its share of the mix's tokens (from license_rows)."""
    out: dict[str, float] = {}
    for r in rows:
        out[r["license"]] = out.get(r["license"], 0.0) + float(r["share"])
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def manifest_sources(rows: Iterable[Mapping]) -> dict[str, dict]:
    """The manifest's `sources`: source -> {part, license, tokens, share, homepage}."""
    return {r["source"]: {"part": r["part"], "license": r["license"], "tokens": r["tokens"], "share": r["share"],
                          "homepage": r["homepage"]} for r in rows}


def rows_from_manifest(manifest: Mapping) -> list[dict]:
    """license rows back from a manifest's `sources` (for checkpoints and the model card)."""
    return [{"source": name, **v} for name, v in (manifest.get("sources") or {}).items()]


LICENSE_COLUMNS = ["source", "part", "license", "documents", "tokens", "share", "homepage"]


def document_rows(documents: Mapping[tuple[str, str], int], provenance: Mapping[str, Mapping]) -> list[dict]:
    """Like license_rows for data not yet tokenized: (part, source) -> documents; share = of the documents."""
    total = sum(documents.values())
    rows = []
    for (part, source), n in documents.items():
        p = provenance.get(source, {})
        rows.append({"part": part, "source": source, "license": p.get("license") or "unknown", "documents": int(n),
                     "share": n / total if total else 0.0, "license_note": p.get("license_note"),
                     "homepage": p.get("homepage")})
    return sorted(rows, key=lambda r: (-r["documents"], r["part"], r["source"]))
