"""Functional tokens (Octopus v2, Chen and Li 2024): one added token per function plus an end token, so the
tool model names a function in one token and closes the call with another: ``<fn_3>(camera='back')<fn_end>``.

    names = functional_token_names(7)               # ['<fn_0>', ..., '<fn_6>', '<fn_end>']
    ids = add_functional_tokens(tokenizer, model, 7)
    tokenizer = functional_tokenizer(7)             # Mistral v1 + the 8 tokens (ids 32000..32007)

A run config with ``"functional_tokens": 7`` makes the train loop add them to the model it starts from
(stage 2's final checkpoint) and save the extended tokenizer with every checkpoint.

Token k belongs to the k-th configured API. They are appended after the base vocabulary in that order, so
their ids are ``base_vocab + k`` (32000.. for Mistral v1) and stay the same on every machine. Adding them to a
tokenizer that already has them (a checkpoint of the tool run) changes nothing. New embedding rows start at
the mean of the existing ones (transformers' `resize_token_embeddings(mean_resizing=True)`), so the first
steps do not see random logits for them.
"""

from __future__ import annotations

FUNCTION_TOKEN = "<fn_{}>"
END_TOKEN = "<fn_end>"


def functional_token_names(n_functions: int) -> list[str]:
    return [FUNCTION_TOKEN.format(k) for k in range(n_functions)] + [END_TOKEN]


def functional_tokenizer(n_functions: int, chat_template: str | None = None):
    """The Mistral v1 fast tokenizer (with `chat_template`, if any) plus the functional tokens: what a tool
    checkpoint saves and what its samples are tokenized with."""
    import copy

    from model_training.tokenizer import mistral_v1_tokenizer

    tokenizer = copy.deepcopy(mistral_v1_tokenizer(chat_template))  # the cached base tokenizer stays as it is
    add_functional_tokens(tokenizer, None, n_functions)
    return tokenizer


def add_functional_tokens(tokenizer, model, n_functions: int) -> list[int]:
    """Add the tokens (special: never split, never merged with neighbours) once, resize the model's input and
    output embeddings to the tokenizer, and return the tokens' ids in order."""
    names = functional_token_names(n_functions)
    vocab = tokenizer.get_vocab()
    present = [n for n in names if n in vocab]
    if present and present != names:
        raise ValueError(f"the tokenizer has only some functional tokens ({present}); expected all or none of {names}")
    if not present:
        tokenizer.add_special_tokens({"additional_special_tokens": names}, replace_extra_special_tokens=False)
    ids = tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(ids[0], ids[0] + len(names))):
        raise ValueError(f"functional tokens are not contiguous: {dict(zip(names, ids))}")
    if model is not None and model.get_input_embeddings().weight.shape[0] != len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return ids
