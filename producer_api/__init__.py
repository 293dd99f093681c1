"""The userq HTTP API: authenticates users and accepts their requests into Kafka."""
