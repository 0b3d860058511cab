"""Measure the product: answers, citations and refusals against gold questions (``rag eval``,
:mod:`evals.run`, with its report and regression gate), retrieval and chunking, the support
judges, and the speed and load benchmarks (:mod:`evals.bench`, :mod:`evals.load`). Builds on
:mod:`rag` and :mod:`index`."""
