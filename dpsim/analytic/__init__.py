"""Closed-form models: collectives (α–β), step time, memory. Microseconds per point."""
