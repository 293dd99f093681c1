"""Plumbing shared by the API and the workers: settings, logging, PostgreSQL, Kafka, operator CLI."""
