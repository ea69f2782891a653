"""Corpus audits: per-batch jobs over every text, on the local or the Ray engine, cached and resumable
(:mod:`.engine`), aggregated into Parquet tables (:mod:`.aggregates`). :mod:`.params` is importable without torch."""
