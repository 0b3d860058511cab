"""Turn a question into a cited, verified answer over the stored news articles."""
