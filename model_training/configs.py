"""Model shapes for the HARE runs, as named numbers.

    from model_training.configs import PRESETS, flops_per_token
    preset = PRESETS["hare-1.1b"]
    preset.parameter_count()          # 1_123_117_056
    flops_per_token(preset, 2048)     # ~7.85e9 (forward + backward)
    config = preset.to_mistral_config()

Presets:
- ``hare-1.1b``: the paper's model (22 layers, hidden 2048, 32 heads / 8 kv heads, intermediate 5632,
  untied embeddings): 1,123,117,056 parameters.
- ``hare-0.25b``: the data-ablation model (16 layers, hidden 1024, 16 heads / 4 kv heads,
  intermediate 2816, untied): 245,924,864 parameters. The paper gives only "0.25B"; this keeps the
  1.1B model's ratios (head dim 64, 4 query heads per kv head, intermediate = 2.75 x hidden).
- ``tiny``: 2 layers, hidden 64, 2 heads / 1 kv head, for CPU tests; its 4.2M parameters are almost all
  embeddings. Head dim 32: the smallest vLLM's CPU attention runs (it supports 32, 64, 80, ... 512).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import MistralConfig


@dataclass(frozen=True)
class ModelPreset:
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int = 32000  # the Mistral v1 sentencepiece vocabulary
    max_seq_len: int = 2048
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool = False
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError(f"hidden {self.hidden}, heads {self.heads}, kv_heads {self.kv_heads} do not divide")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def to_mistral_config(self) -> MistralConfig:
        # Imported here: the Dagster code location reads presets and FLOP counts without loading transformers.
        from transformers import MistralConfig

        return MistralConfig(
            vocab_size=self.vocab,
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            head_dim=self.head_dim,
            hidden_act="silu",
            max_position_embeddings=self.max_seq_len,
            rms_norm_eps=self.rms_eps,
            rope_theta=self.rope_theta,
            # Sequences never exceed max_seq_len, so Mistral's sliding window would only add masking work.
            sliding_window=None,
            tie_word_embeddings=self.tie_embeddings,
            bos_token_id=self.bos_id,
            eos_token_id=self.eos_id,
        )

    def parameter_count(self) -> int:
        kv_width = self.kv_heads * self.head_dim
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv_width  # q, o + k, v (no biases)
        mlp = 3 * self.hidden * self.intermediate  # gate, up, down
        norms = 2 * self.hidden  # RMSNorm before attention and before the MLP
        embeddings = self.vocab * self.hidden * (1 if self.tie_embeddings else 2)
        return self.layers * (attention + mlp + norms) + embeddings + self.hidden  # + final norm


PRESETS: dict[str, ModelPreset] = {
    "hare-1.1b": ModelPreset(layers=22, hidden=2048, intermediate=5632, heads=32, kv_heads=8),
    "hare-0.25b": ModelPreset(layers=16, hidden=1024, intermediate=2816, heads=16, kv_heads=4),
    "tiny": ModelPreset(layers=2, hidden=64, intermediate=128, heads=2, kv_heads=1),
}


def get_preset(name: str) -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def flops_per_token(preset: ModelPreset, seq_len: int) -> float:
    """Training FLOPs per token, forward + backward (PaLM appendix B convention).

    6N for the weight matmuls plus 12 * layers * hidden * seq_len for the attention score and
    value matmuls, which grow with context and are not counted in N.
    """
    return 6 * preset.parameter_count() + 12 * preset.layers * preset.heads * preset.head_dim * seq_len
