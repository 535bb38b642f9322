"""Append-only, hash-chained audit log. ``record`` is the one way to write an event."""
