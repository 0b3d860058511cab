"""Serve the chat and the HTTP API (built in a later issue; see README)."""
