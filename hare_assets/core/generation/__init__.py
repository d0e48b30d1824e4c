"""Text generation: prompt templates, the backends (tiny local model, transformers, vLLM,
OpenAI-compatible HTTP), the request cache, and generate() for an asset."""
