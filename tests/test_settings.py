from pathlib import Path

import pytest
import yaml

from hare_assets.core.settings import (
    PACKAGED_CONFIG,
    ConfigError,
    load_settings,
    parse_settings,
)

TABLE3 = {
    "RedPajamaC4": ("C4", 11), "RedPajamaArxiv": ("Arxiv", 1.42), "Pubmed": ("References", 0.65),
    "S2orc": ("Open Research Corpus", 1.68), "PhiPapers": ("Philosophy", 0.06), "RedPajamaBook": ("Book", 1.73),
    "PG_19": ("Book", 1.46), "RedPajamaStackExchange": ("Net", 1.10), "HackerNews": ("News", 0.10),
    "FreeLaw": ("Law", 0.46), "PileofLaw": ("Law", 0.34), "AMPS": ("Khan Academy", 0.96), "DM_math": ("Math", 0.5),
    "Orca_math": ("Math", 2.56), "OpenWebMath": ("Math", 3.88), "Fanfics": ("Book", 1.32),
    "RedPajamaWiki": ("Wiki", 7.78), "The-Stack": ("Code", 5.5), "StackOverFlow": ("Code", 4),
}


def default_raw() -> dict:
    return yaml.safe_load(PACKAGED_CONFIG.read_text())


def write(tmp_path: Path, raw: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_default_config_lists_table3_and_open_sources(hare_home):
    s = load_settings()
    d1 = {x.name: (x.category, x.weight) for x in s.d1_sources}
    assert d1 == TABLE3
    assert sum(w for _, w in d1.values()) == pytest.approx(46.5)
    assert {x.name for x in s.sources if x.part != "d1"} == {"cosmopedia", "dolly", "openhermes", "autocot",
                                                               "metamathqa", "ultrachat200k"}
    assert {x.name for x in s.sources if x.part == "chat"} == {"metamathqa", "ultrachat200k"}
    assert s.chat.sources == ("dolly", "autocot", "metamathqa", "ultrachat200k")
    assert [b.name for b in s.benchmarks] == ["mmlu", "arc_challenge", "truthfulqa", "winogrande", "hellaswag", "gsm8k"]
    assert s.mixture.weights == {"d1": 46.5, "d2_synthetic": 7.7, "d2_open": 5.93, "d3_restruct": 23.5, "d3_open": 16.37}
    assert s.sources[0].uri.startswith(str(hare_home))  # ${HARE_HOME} expanded


def test_hare_config_overrides_and_relative_paths(tmp_path, hare_home, monkeypatch):
    raw = default_raw()
    raw["sources"] = [{"name": "mine", "category": "C4", "weight": 1.0, "uri": "data/*.jsonl", "format": "jsonl"}]
    raw["topics"]["seed_sources"] = {}
    raw["chat"]["sources"] = []
    monkeypatch.setenv("HARE_CONFIG", str(write(tmp_path, raw)))
    s = load_settings()
    assert [x.name for x in s.sources] == ["mine"]
    assert s.sources[0].uri == str(tmp_path / "data" / "*.jsonl")


@pytest.mark.parametrize("mutate, key, reason", [
    (lambda r: r["sources"][0].update(weight=-1), "sources.0.weight", "greater than or equal to 0"),
    (lambda r: r["sources"][1].update(format="csv"), "sources.1.format", "Input should be"),
    (lambda r: r["sources"][2].pop("uri"), "sources.2.uri", "Field required"),
    (lambda r: r["cleaning"].update(language_threshold=3), "cleaning.language_threshold", "less than or equal to 1"),
    (lambda r: r["mixture"]["runs"]["stage1"].update(parts=["d9"]), "mixture.runs.stage1.parts", "unknown mix parts"),
    (lambda r: r["dedup"].update(typo=1), "dedup.typo", "Extra inputs are not permitted"),
    (lambda r: r["mixture"]["runs"]["chat"].update(parts=["chat", "d1"]), "mixture.runs.chat",
     "a chat run has parts [chat] and a template"),
    (lambda r: r["chat"].update(sources=["dolly", "cosmopedia"]), "(top level)",
     "chat.sources: 'cosmopedia' is not a configured source with a converter"),
    (lambda r: r["decontamination"]["ngram"].pop("chat"), "decontamination.ngram", "missing ['chat']"),
    (lambda r: r["benchmarks"][1].update(name="mmlu_pro"), "benchmarks.1.name",
     "Input should be 'mmlu', 'arc_challenge', 'truthfulqa', 'winogrande', 'hellaswag' or 'gsm8k'"),
])
def test_bad_config_names_the_key_path(tmp_path, hare_home, mutate, key, reason):
    raw = default_raw()
    mutate(raw)
    with pytest.raises(ConfigError) as e:
        parse_settings(write(tmp_path, raw))
    assert key in str(e.value) and reason in str(e.value) and "cfg.yaml" in str(e.value)


def test_cross_reference_errors(tmp_path, hare_home):
    raw = default_raw()
    raw["training"]["runs"]["stage2"]["init_from"] = "nope"
    with pytest.raises(ConfigError, match="training.runs.stage2.init_from: unknown run 'nope'"):
        parse_settings(write(tmp_path, raw))
    raw = default_raw()
    raw["sources"].append(dict(raw["sources"][0]))
    with pytest.raises(ConfigError, match=r"duplicate names \['RedPajamaC4'\]"):
        parse_settings(write(tmp_path, raw))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_settings(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("sources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_settings(p)


def test_paper_scale_training_block_in_scaling_doc_validates(tmp_path, hare_home):
    """docs/SCALING.md's paper config (1.1B stages, 0.25B ablation arms) is a valid config section."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "SCALING.md").read_text()
    block = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    raw = default_raw()
    raw["mixture"].update(block["mixture"])
    raw["training"] = block["training"]
    raw["evaluation"].update(block["evaluation"])
    s = parse_settings(write(tmp_path, raw))
    assert s.training.runs["stage1"].preset == "hare-1.1b" and s.training.runs["stage1"].target_tokens == 52e9
    assert s.training.runs["stage2"].init_from == "stage1" and s.training.runs["stage1"].token_batch == 2 * 2**20
    assert {s.training.runs[a].preset for a in s.training.ablation_arms} == {"hare-0.25b"}
    assert s.evaluation.max_items_per_benchmark is None


def test_ablation_arms_must_share_hyperparameters(tmp_path, hare_home):
    raw = default_raw()
    raw["training"]["runs"]["abl_d1_d2"]["lr"] = 0.01
    with pytest.raises(ConfigError, match=r"runs.abl_d1_d2: ablation arms must share .* differs in \['lr'\]"):
        parse_settings(write(tmp_path, raw))
    raw = default_raw()
    raw["training"]["runs"]["stage1"].pop("max_steps")
    with pytest.raises(ConfigError, match="training.runs.stage1: .*exactly one of max_steps and target_tokens"):
        parse_settings(write(tmp_path, raw))


def test_every_packaged_source_has_provenance(hare_home):
    """Licenses come from the sources' dataset cards: an HF license id, or other/unknown with a note."""
    s = load_settings()
    for src in s.sources:
        assert src.license, src.name
        if src.license in ("other", "unknown"):
            assert src.license_note, f"{src.name}: other/unknown needs a license_note"
        if src.name != "Fanfics":  # the paper does not name Fanfics' dataset
            assert src.homepage and src.homepage.startswith("https://"), src.name
    lic = {x.name: x.license for x in s.sources}
    assert lic["RedPajamaC4"] == "odc-by" and lic["PileofLaw"] == "cc-by-nc-sa-4.0" and lic["AMPS"] == "mit"
    assert lic["cosmopedia"] == "apache-2.0" and lic["dolly"] == "cc-by-sa-3.0" and lic["openhermes"] == "other"


def test_source_license_defaults_to_unknown(tmp_path, hare_home):
    raw = default_raw()
    raw["sources"][0] = {k: v for k, v in raw["sources"][0].items()
                         if k not in ("license", "license_note", "homepage", "citation")}
    s = parse_settings(write(tmp_path, raw))
    assert s.sources[0].license == "unknown" and s.sources[0].homepage is None


def test_compute_ray_needs_an_address(tmp_path, hare_home, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    raw = default_raw()
    assert parse_settings(write(tmp_path, raw)).compute.kind == "local"
    raw["compute"] = {"kind": "ray"}
    with pytest.raises(ConfigError, match=r"compute: .*compute.address: kind 'ray' needs an address"):
        parse_settings(write(tmp_path, raw))
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert parse_settings(write(tmp_path, raw)).compute.address is None  # Ray reads RAY_ADDRESS itself
    raw["compute"] = {"kind": "local", "address": "head:6379"}
    with pytest.raises(ConfigError, match="compute.address: only used with kind 'ray'"):
        parse_settings(write(tmp_path, raw))
