"""polydub: end-to-end video localization orchestrated with Prefect."""

__version__ = "0.1.0"
