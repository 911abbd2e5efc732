"""Use cases: they take and return plain dataclasses, never Flask requests."""
