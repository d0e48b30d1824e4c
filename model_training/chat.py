"""Talking to a chat checkpoint in the terminal: its own saved chat template, tokens streamed as they come.

    from model_training.chat import chat_loop
    chat_loop("runs/chat/final", sys.stdin, sys.stdout)    # `hare chat --run chat` calls this

Each user line is appended to the conversation, rendered with ``apply_chat_template(...,
add_generation_prompt=True)`` and answered greedily (or sampled with ``temperature`` > 0) until the
model emits its end-of-turn token or ``max_new_tokens``; the answer joins the conversation. An empty
line or end of input stops.
"""

from __future__ import annotations

import os
from typing import TextIO

import torch
from transformers import TextStreamer

from model_training.evaluate import load_checkpoint


class _Streamer(TextStreamer):
    """transformers' TextStreamer (decodes whole words as they complete) writing to `out` instead of print."""

    def __init__(self, tokenizer, out: TextIO):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.out = out

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.out.write(text + ("\n" if stream_end else ""))
        self.out.flush()


def chat_loop(checkpoint: str | os.PathLike, lines: TextIO, out: TextIO, system: str | None = None,
              max_new_tokens: int = 256, temperature: float = 0.0, prompt: str = "> ") -> list[dict]:
    """Read user turns from `lines` until an empty line; stream each answer to `out`. Returns the conversation."""
    model, tokenizer = load_checkpoint(checkpoint)
    if tokenizer.chat_template is None:
        raise ValueError(f"{checkpoint}: the tokenizer has no chat template (not a chat checkpoint)")
    messages = [{"role": "system", "content": system}] if system else []
    streamer = _Streamer(tokenizer, out)
    while True:
        out.write(prompt)
        out.flush()
        line = lines.readline()
        if not line.strip():
            return messages
        messages.append({"role": "user", "content": line.strip()})
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        with torch.inference_mode():
            generated = model.generate(
                **inputs, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        messages.append({"role": "assistant", "content": answer.strip()})
