"""The HTTP routes, one module per resource: ``/api`` (:mod:`.api`), the OpenAI-compatible
``/v1`` (:mod:`.v1`) and the ``/embed`` page (:mod:`.embed`)."""
