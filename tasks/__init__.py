"""Prefect tasks: one module per stage, each a thin wrapper that picks a backend,
calls it, and persists the stage output in the video's work folder."""
