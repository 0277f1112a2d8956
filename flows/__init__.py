"""Prefect flows: the source-side flow, the per-language flow and the top-level `localize`."""
