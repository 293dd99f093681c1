"""The userq worker: a Kafka consumer group that runs each user's requests in order."""
