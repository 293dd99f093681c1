"""Wire formats shared by the API and the workers. Every record carries its schema version."""
