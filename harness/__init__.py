"""The local stack that tests and the benchmark share: native (or given, or containerised) Kafka and
PostgreSQL, the API and worker processes, and what they can be asked from the outside. Not installed
with userq."""
