"""Text generation: backends (tiny local model, transformers, vLLM, OpenAI-compatible HTTP), the request cache, and the Dagster-side call."""
