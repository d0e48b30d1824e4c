"""The chat fine-tune (paper Appendix C.1): the named chat template, the loss-masked SFT rows, the masked
loss in the one train loop, and a tiny model that learns to end its turn.

Offline: the tokenizer is mistral-common's bundled model, shards are written here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from hare_assets.finetuning.conversations import to_messages
from hare_assets.core.packing import pack, pack_samples, write_shards
from model_training.chat_template import chat_tokenizer, render, render_sample
from model_training.configs import PRESETS
from model_training.data import PackedSequences
from model_training.engines import causal_lm_loss
from model_training.run_config import RunConfig
from model_training.tokenizer import save_tokenizer
from model_training.train import train

TEMPLATE = "hare-chat-v1"
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And 3 + 3?"},
    {"role": "assistant", "content": "6."},
]
# hare-chat-v1 on CONVERSATION, checked by hand against the pieces: <s> ▁< | system | > \n Be ▁brief . </s>
# ▁ \n < | user | > \n What ▁is ▁ 2 ▁+ ▁ 2 ? </s> ▁ \n < | ass istant | > \n 4 . </s> ▁ \n ... 6 . </s> ▁ \n
KNOWN_IDS = [
    1, 523, 28766, 6574, 28766, 28767, 13, 3574, 6817, 28723, 2, 28705, 13, 28789, 28766, 1838, 28766, 28767, 13,
    3195, 349, 28705, 28750, 648, 28705, 28750, 28804, 2, 28705, 13, 28789, 28766, 489, 11143, 28766, 28767, 13,
    28781, 28723, 2, 28705, 13, 28789, 28766, 1838, 28766, 28767, 13, 2467, 28705, 28770, 648, 28705, 28770, 28804,
    2, 28705, 13, 28789, 28766, 489, 11143, 28766, 28767, 13, 28784, 28723, 2, 28705, 13,
]
BOS, EOS, PAD = 1, 2, 0


@pytest.fixture(scope="module")
def tokenizer():
    return chat_tokenizer(TEMPLATE)


def test_template_renders_a_known_conversation_to_known_ids(tokenizer):
    assert render(tokenizer, CONVERSATION) == (
        "<s><|system|>\nBe brief.</s>\n<|user|>\nWhat is 2 + 2?</s>\n<|assistant|>\n4.</s>\n"
        "<|user|>\nAnd 3 + 3?</s>\n<|assistant|>\n6.</s>\n")
    sample = render_sample(tokenizer, CONVERSATION)
    assert sample.ids == KNOWN_IDS
    # Pitfall: templated text tokenized again with special tokens gets a second BOS; the sample has one.
    assert sample.ids.count(BOS) == 1
    assert tokenizer(render(tokenizer, CONVERSATION)).input_ids[:2] == [BOS, BOS]


def test_loss_mask_covers_assistant_tokens_and_their_end_of_turn_only(tokenizer):
    sample = render_sample(tokenizer, CONVERSATION)
    trained = [i for i, m in zip(sample.ids, sample.loss_mask) if m]
    assert tokenizer.convert_ids_to_tokens(trained) == ["4", ".", "</s>", "6", ".", "</s>"]
    # every other token, the system and user turns' EOS included, is context only
    assert sample.label_tokens == 6 and sample.ids.count(EOS) == len(CONVERSATION)


def test_chat_checkpoint_tokenizer_applies_the_saved_template(tmp_path, tokenizer):
    save_tokenizer(tmp_path, TEMPLATE)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    prompt = loaded.apply_chat_template(CONVERSATION[:4], add_generation_prompt=True)["input_ids"]
    assert prompt == KNOWN_IDS[: len(prompt)] and prompt[-7:] == [28789, 28766, 489, 11143, 28766, 28767, 13]
    # Pitfall: pad == EOS would let padding-aware code mask the real end of turn.
    assert (loaded.pad_token_id, loaded.eos_token_id) == (PAD, EOS)


def test_samples_are_one_per_padded_row_with_their_masks(tmp_path, tokenizer):
    short = render_sample(tokenizer, CONVERSATION[1:3])
    full = render_sample(tokenizer, CONVERSATION)
    samples = [(s.ids, s.loss_mask) for s in (short, full, short)]
    too_long = ([BOS] + [5] * 200, [0] * 201)
    seq_len = len(full.ids) + 3
    manifest = write_shards(tmp_path / "s", pack_samples([*samples, too_long], seq_len, PAD, EOS), seq_len, 8, seed=3,
                            manifest_extra={"chat_template": TEMPLATE})
    assert (manifest["loss_mask"], manifest["total_sequences"], manifest["too_long_samples"]) == (True, 3, 1)
    assert manifest["label_tokens"] == short.label_tokens * 2 + full.label_tokens
    data = PackedSequences(tmp_path / "s")
    assert data.has_loss_mask
    rows = sorted((data[i] for i in range(len(data))), key=lambda r: int(r[0].astype(bool).sum()))
    for row, sample in zip(rows, (short, short, full)):
        ids, mask = row
        n = len(sample.ids)
        assert ids[:n].tolist() == sample.ids and mask[:n].tolist() == sample.loss_mask
        # Pitfall: packed samples attending to each other. One BOS per row; the rest is padding, masked.
        assert (ids[n:] == PAD).all() and (mask[n:] == 0).all() and (ids == BOS).sum() == 1
    assert next(data.batches(2)).shape == (2, 2, seq_len + 1)
    # The pre-training packer is unchanged: plain 2-D rows, no mask in the manifest.
    plain = write_shards(tmp_path / "p", pack([[5] * 40], 9, EOS), 9, 4, seed=0)
    assert "loss_mask" not in plain and not PackedSequences(tmp_path / "p").has_loss_mask


def test_masked_loss_is_the_mean_over_assistant_labels_only(tokenizer):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(PRESETS["tiny"].to_mistral_config()).eval()
    sample = render_sample(tokenizer, CONVERSATION)
    ids = torch.tensor([sample.ids + [PAD] * 5])
    mask = torch.tensor([sample.loss_mask + [0] * 5])
    with torch.no_grad():
        masked = causal_lm_loss(model, torch.stack([ids, mask], dim=1))
        logits = model(input_ids=ids[:, :-1]).logits[0]
        keep = mask[0, 1:].bool()
        expected = F.cross_entropy(logits[keep], ids[0, 1:][keep])
        # The padded row's sample sees exactly what it sees alone: padding comes after it, attention is causal.
        alone = model(input_ids=torch.tensor([sample.ids])).logits[0]
    assert torch.allclose(masked, expected)
    assert not torch.allclose(masked, causal_lm_loss(model, ids))
    assert torch.allclose(logits[: len(sample.ids) - 1], alone[:-1], atol=1e-5)


def test_fine_tuned_tiny_model_stops_at_the_end_of_turn_token(tmp_path, tokenizer):
    """The masked loss through the project's train loop: a tiny model fine-tuned on a few conversations
    answers a trained prompt and then emits </s>; its checkpoint carries the template."""
    conversations = [
        [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."},
         {"role": "assistant", "content": "Seven."}],
    ]
    samples = [render_sample(tokenizer, c) for c in conversations]
    seq_len = 40
    write_shards(tmp_path / "shards", pack_samples([(s.ids, s.loss_mask) for s in samples * 2], seq_len, PAD, EOS),
                 seq_len, 64, seed=0, manifest_extra={"chat_template": TEMPLATE})
    cfg = RunConfig(preset="tiny", shards_dir=str(tmp_path / "shards"), output_dir=str(tmp_path / "run"),
                    micro_batch_size=4, grad_accum_steps=1, max_steps=30, lr=1e-2, warmup_steps=2, log_every=100)
    summary = train(cfg)
    final = tmp_path / "run" / "final"
    assert json.loads((final / "trainer_state.json").read_text())["chat_template"] == TEMPLATE
    chat = AutoTokenizer.from_pretrained(final)
    model = AutoModelForCausalLM.from_pretrained(final).eval()
    prompt = chat.apply_chat_template(conversations[0][:1], add_generation_prompt=True, return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False, eos_token_id=chat.eos_token_id,
                         pad_token_id=chat.pad_token_id)[0, prompt["input_ids"].shape[1]:].tolist()
    assert chat.decode(out) == "Blue.</s>" and out[-1] == EOS, (chat.decode(out), summary["final_loss"])
    assert np.isfinite(summary["final_loss"])

    # `hare chat --run chat` on that checkpoint: the answer streams through the saved template and stops.
    home = tmp_path / "home"
    shutil.copytree(final, home / "checkpoints" / "chat" / "final")
    env = {**os.environ, "HARE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    proc = subprocess.run([sys.executable, "-m", "hare_assets.cli", "chat", "--run", "chat", "--max-new-tokens", "12"],
                          input="What colour is the sky?\n\n", capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "> Blue.\n> ", proc.stdout
    missing = subprocess.run([sys.executable, "-m", "hare_assets.cli", "chat", "--run", "nope"], input="",
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 1 and "materialize checkpoints[nope] first" in missing.stderr


def test_chat_sources_convert_from_their_own_schemas():
    user_first = to_messages("metamathqa", {"type": "GSM_AnsAug", "query": "What is 2 + 2?",
                                            "original_question": "What is 2 + 2?", "response": "2 + 2 = 4\nThe answer is: 4"},
                             system_prompt="Be kind.")
    assert user_first == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "What is 2 + 2?"},
                          {"role": "assistant", "content": "2 + 2 = 4\nThe answer is: 4"}]
    turns = [{"content": "Hi", "role": "user"}, {"content": "Hello!", "role": "assistant"},
             {"content": "Bye", "role": "user"}, {"content": "Goodbye.", "role": "assistant"}]
    multi = to_messages("ultrachat", {"prompt": "Hi", "prompt_id": "x", "messages": json.dumps(turns)})
    assert [m["role"] for m in multi] == ["user", "assistant", "user", "assistant"]  # multi-turn kept
    assert to_messages("dolly", {"instruction": "Summarize.", "context": "A text.", "response": "Short.",
                                 "category": "summarization"})[0]["content"] == "Summarize.\n\nA text."
    cot = to_messages("autocot", {"question": "Q: 3 apples and 2 more?\nA:", "rationale": "3 + 2 = 5. The answer is 5.",
                                  "answer": "5"})
    assert cot == [{"role": "user", "content": "3 apples and 2 more?"},
                   {"role": "assistant", "content": "3 + 2 = 5. The answer is 5."}]
    assert to_messages("ultrachat", {"messages": turns[:3]}).reason == "ends_without_assistant"
    assert to_messages("ultrachat", {"messages": [turns[1], turns[0]]}).reason == "turns_do_not_alternate"
    assert to_messages("metamathqa", {"query": "Hi"}).reason == "missing_response"
