"""chat_sft_samples: the chat fine-tune's conversations (paper Appendix C.1), from the chat sources in
their own schemas, in the project's chat template."""

import json
from collections import Counter

import dagster as dg
import duckdb
import pyarrow as pa

from hare_assets.core.asset import asset
from hare_assets.core.lake import parquet_glob, write_table
from hare_assets.core.meta import (
    conservation_result,
    conservation_spec,
    markdown_table,
    table_metadata,
)
from hare_assets.core.rejection import Rejection
from hare_assets.core.resources import HareResource
from hare_assets.core.schemas import (
    DOCUMENT_SCHEMA,
    record_from_document,
    with_rejection_fields,
)
from hare_assets.core.settings import Settings
from hare_assets.core.warehouse import quote_literal
from hare_assets.finetuning.conversations import decontamination_text, to_messages
from model_training.chat_template import chat_tokenizer, render_sample

# text: the turns' contents (what decontamination matches); messages: the conversation as JSON; tokens and
# label_tokens: its length in the chat template and how many of those tokens are trained (assistant + end of turn).
CHAT_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string()), ("messages", pa.string()),
                         ("template", pa.string()), ("tokens", pa.int64()), ("label_tokens", pa.int64())])
CHAT_REJECTION_SCHEMA = with_rejection_fields(pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string())]))
COLUMN_DESCRIPTIONS = {
    "text": "every turn's content but the configured system prompt, joined: what decontamination matches",
    "messages": "the conversation, JSON [{role, content}] with roles system / user / assistant",
    "template": "the chat template the tokens were counted in (model_training.chat_template)",
    "tokens": "templated length in Mistral v1 tokens, BOS to the last end-of-turn",
    "label_tokens": "tokens with loss: assistant turns and their end-of-turn tokens",
}


def chat_source_rows(hare: HareResource, names: list[str]) -> list[dict]:
    with duckdb.connect() as con:
        return con.execute(f"""
            SELECT * FROM read_parquet({quote_literal(parquet_glob(hare.root, 'raw_documents', True))})
            WHERE source IN (SELECT unnest(?)) ORDER BY id""", [names]).to_arrow_table().to_pylist()


def chat_sft_samples(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
    settings = hare.settings()
    cfg = settings.chat
    tokenizer = chat_tokenizer(cfg.template)
    rows = chat_source_rows(hare, list(cfg.sources))
    kept, rejected = [], []
    for r in rows:
        source = settings.source(r["source"])
        # Its own id: a Dolly record is also a D3 sample, and both meet in decontaminated_documents.
        base = {"id": f"chat-{r['id']}", "source": r["source"], "category": r["category"], "part": "chat",
                "meta": r["meta"], "mix_part": "chat"}
        messages = to_messages(source.converter, record_from_document(r["text"], r["meta"], source.text_field),
                               cfg.system_prompt)
        if not isinstance(messages, Rejection):
            sample = render_sample(tokenizer, messages)
            if len(sample.ids) > cfg.max_tokens:
                messages = Rejection("too_long", f"{len(sample.ids)} templated tokens > chat.max_tokens {cfg.max_tokens}")
        if isinstance(messages, Rejection):
            rejected.append({**base, "text": r["text"], **messages.columns("chat_conversion")})
            continue
        kept.append({**base, "text": decontamination_text(messages, cfg.system_prompt),
                     "messages": json.dumps(messages, ensure_ascii=False), "template": cfg.template,
                     "tokens": len(sample.ids), "label_tokens": sample.label_tokens})
    table = pa.Table.from_pylist(kept, schema=CHAT_SCHEMA)
    write_table(hare.lake("chat_sft_samples"), table)
    write_table(hare.lake("chat_sft_rejections"), pa.Table.from_pylist(rejected, schema=CHAT_REJECTION_SCHEMA))
    for name in ("chat_sft_samples", "chat_sft_rejections"):
        hare.publish(name, name, partitioned=False)
    reasons = Counter(r["reason"] for r in rejected)
    per_source = [{"source": s, "conversations": sum(k["source"] == s for k in kept),
                   "tokens": sum(k["tokens"] for k in kept if k["source"] == s),
                   "label_tokens": sum(k["label_tokens"] for k in kept if k["source"] == s),
                   "multi_turn": sum(k["messages"].count('"role": "assistant"') > 1 for k in kept if k["source"] == s)}
                  for s in cfg.sources]
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table, ["id", "source", "tokens", "label_tokens", "messages"],
                             descriptions=COLUMN_DESCRIPTIONS),
            "per_source": dg.MetadataValue.md(markdown_table(per_source)),
            "rejected_by_reason": dg.MetadataValue.json(dict(reasons)),
            "template": cfg.template,
        },
        check_results=[conservation_result(len(rows), len(kept), reasons)],
    )


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    cfg = settings.chat
    return [
        asset(
            name="chat_sft_samples",
            group_name="finetuning",
            deps=["raw_documents"],
            config=[cfg, [s for s in settings.sources if s.name in cfg.sources]],
            check_specs=[conservation_spec("chat_sft_samples", "chat source records")],
            kinds={"parquet"},
            description=(f"The chat fine-tune's conversations (paper Appendix C.1) from {list(cfg.sources)}, each "
                         "record converted from its dataset's schema to messages with the roles system / user / "
                         f"assistant (multi-turn kept; the system prompt {cfg.system_prompt!r} first where there is "
                         f"none), counted in the chat template {cfg.template} and rejected above {cfg.max_tokens} "
                         "tokens; rejections go to chat_sft_rejections with the reason. decontaminated_documents "
                         "checks them against the benchmarks as part `chat`, with the same rule and report as the mix."),
        )(chat_sft_samples),
    ]
