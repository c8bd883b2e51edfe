"""The Postgres host agent: many Postgres instances on one machine, each its own data directory and
process tree under a non-root service user."""
