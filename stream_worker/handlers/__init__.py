"""Request handlers. Register yours with `stream_worker.handlers.registry.handler` (see README)."""
