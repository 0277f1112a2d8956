"""Prefect flows: the source-side flow, the per-language flow and the top-level `localize`."""

from polydub import redact

redact.install()  # no secret in any log record of a process that runs these flows
