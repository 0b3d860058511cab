"""Serve people and portals: the `rag` command line (:mod:`ui.cli`), the HTTP API with its
routers (:mod:`ui.api`, :mod:`ui.routes`), the Gradio chat (:mod:`ui.chat`) and the
``/embed`` page. Builds on :mod:`rag`, :mod:`index` and :mod:`evals`; nothing imports it."""
