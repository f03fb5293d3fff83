"""Offline ingestion: load -> validate -> chunk -> embed -> upsert."""
