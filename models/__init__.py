"""Stage backends and the typed data they exchange. Plain Python: no Prefect here."""
