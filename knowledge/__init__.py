"""The curated knowledge base, shipped as package data (`physio_knowledge`) so a plain install finds it."""
