"""The shared core: what several stages use. It imports no stage."""
