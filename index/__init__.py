"""Turn article files into cleaned, chunked, embedded chunks in a Chroma store."""
