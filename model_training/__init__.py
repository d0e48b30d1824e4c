"""HARE model training: a standalone package run by the platform through Dagster Pipes.

- ``configs``: model presets (``hare-1.1b``, ``hare-0.25b``, ``tiny``), parameter and FLOP counts
- ``data``: memory-mapped reader of the packed token shards (datatrove ``.ds`` layout, ``hare-packed-v2``; v1 still read)
- ``tokenizer``: the Mistral v1 tokenizer as a transformers fast tokenizer, built offline
- ``chat_template``: the named chat templates (``hare-chat-v1``) and an SFT sample as ids + per-token loss
  mask; ``chat``: talking to a chat checkpoint in the terminal (``hare chat``)
- ``train``: the train loop, ``python -m model_training.train --run-config run.json``; ``run_config``
  (run.json, the batch plan, the device runtime), ``engines`` (torch / DeepSpeed optimizer steps),
  ``checkpointing`` (checkpoint folders, trainer state, resume) and ``metrics`` (metrics.jsonl, MFU,
  loss curve, the run summary)
- ``evaluate``: checkpoint loading, greedy generation, benbench n-gram accuracy and the leakage delta
  (benchmark scores come from lm-eval, driven by ``hare_assets.evaluation``)

Depends on torch, transformers, sentencepiece, mistral-common and dagster-pipes (never dagster);
deepspeed and flash-attn only when a GPU run asks for them.
"""
