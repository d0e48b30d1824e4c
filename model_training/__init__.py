"""HARE model training: a standalone package run by the platform through Dagster Pipes.

- ``configs``: model presets (``hare-1.1b``, ``hare-0.25b``, ``tiny``), parameter and FLOP counts
- ``data``: memory-mapped reader of the ``hare-packed-v1`` token shards
- ``tokenizer``: the Mistral v1 tokenizer as a transformers fast tokenizer, built offline
- ``train``: the train loop, ``python -m model_training.train --run-config run.json``
- ``evaluate``: multiple-choice log-likelihood accuracy, GSM8K exact match, benbench n-gram accuracy

Depends on torch, transformers, sentencepiece, mistral-common and dagster-pipes (never dagster);
deepspeed and flash-attn only when a GPU run asks for them.
"""
