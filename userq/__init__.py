"""The userq client: `userq.client` (the Python library) and `userq.cli` (the `userq` command).

It speaks the HTTP API v1 and nothing else: it needs neither Kafka nor PostgreSQL, nor any server package.
"""
