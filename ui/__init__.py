"""Serve people and portals: the `rag` command line and the HTTP API (the Gradio chat comes later)."""
