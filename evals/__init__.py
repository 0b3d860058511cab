"""Measure ingest speed, retrieval quality and (later) answer quality."""
