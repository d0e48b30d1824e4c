"""The project's chat templates (named and versioned) and the SFT sample they make: token ids plus a
per-token loss mask.

    from model_training.chat_template import chat_tokenizer, render_sample
    tok = chat_tokenizer("hare-chat-v1")      # Mistral v1 tokenizer + the template + pad <unk>
    sample = render_sample(tok, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
    sample.ids, sample.loss_mask               # the ids apply_chat_template gives; 1 = this token is a label

``hare-chat-v1`` renders ``<s>`` once, then every turn as ``<|role|>\\n{content}</s>\\n`` (roles system,
user, assistant); the generation prompt is ``<|assistant|>\\n``. The end-of-turn token is Mistral v1's
EOS ``</s>`` (id 2): the vocabulary and the embeddings stay as pre-trained, and ``generate`` stops where
the model closes its turn. The pad token is ``<unk>`` (id 0), never EOS, so padding can never hide the
real end of turn.

The loss mask is 1 exactly on each assistant turn's content and its ``</s>``, 0 on the BOS, the system
and user turns and every role header. It is computed on the ids of the whole rendered conversation
(tokenized once, without adding special tokens: the template writes the one BOS), from the character
spans the template gives each assistant turn, so training sees the very ids ``apply_chat_template``
gives at inference. A sample is just (ids, loss_mask): other fine-tunes (tool calls) build theirs from
their own segments with ``sample_from_segments``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")
END_OF_TURN = "</s>"
PAD_TOKEN = "<unk>"

# A template's text never changes under its name: a change is a new version (hare-chat-v2, ...).
TEMPLATES = {
    "hare-chat-v1": (
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
        "{{ raise_exception('hare-chat-v1: unknown role ' + message['role']) }}"
        "{% endif %}"
        "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    ),
}


def template_text(name: str) -> str:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown chat template {name!r}; known: {sorted(TEMPLATES)}") from None


def chat_tokenizer(name: str):
    """The Mistral v1 fast tokenizer with chat template `name` and pad token <unk>."""
    from model_training.tokenizer import mistral_v1_tokenizer

    return mistral_v1_tokenizer(chat_template=name)


@dataclass(frozen=True)
class Sample:
    ids: list[int]
    loss_mask: list[int]  # 1: the token is predicted with loss (its label counts), 0: context only

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.loss_mask):
            raise ValueError(f"{len(self.ids)} ids but {len(self.loss_mask)} mask entries")

    @property
    def label_tokens(self) -> int:
        return sum(self.loss_mask)


def sample_from_segments(tokenizer, text: str, trained_spans: Sequence[tuple[int, int]]) -> Sample:
    """Tokenize `text` once (no special tokens added) and mark the tokens starting inside any of the
    character spans [start, end) as trained."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= s < end for start, end in trained_spans)) for s, _ in encoded["offset_mapping"]]
    return Sample(list(encoded["input_ids"]), mask)


def render(tokenizer, messages: Sequence[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)


def render_sample(tokenizer, messages: Sequence[dict]) -> Sample:
    """The conversation's ids and loss mask (assistant content + its end-of-turn token)."""
    for i, m in enumerate(messages):
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i}: needs a role in {ROLES} and text content, got {m!r}")
    text = render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        # The template renders a prefix of the conversation as a prefix of the text, so a turn's span runs
        # from the end of its generation prompt to the end of its end-of-turn token.
        start = len(render(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(render(tokenizer, messages[: i + 1]).rstrip("\n"))
        if not text.startswith(render(tokenizer, messages[: i + 1])) or not text[start:end].endswith(END_OF_TURN):
            raise ValueError(f"template {tokenizer.chat_template[:40]!r}...: turn {i} does not render as a prefix")
        spans.append((start, end))
    return sample_from_segments(tokenizer, text, spans)
