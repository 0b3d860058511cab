"""Turn article files, web pages and feeds into cleaned, chunked articles stored through
:mod:`rag.store`: loaders (:mod:`index.load`, one table of formats), cleaning, chunking,
near-duplicates, the ingest pipeline and the web fetcher. Builds on :mod:`rag` only."""
