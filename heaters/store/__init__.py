"""Persistence: SQLite tables, migrations, queries, claims, the event log, the vector index."""
