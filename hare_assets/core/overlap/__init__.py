"""Word n-gram overlap with the benchmarks (the paper's decontamination rule): hashing, the index, repetition
rates and the removal rule. Shared by every set that is decontaminated: the mix parts and the fine-tuning data."""
