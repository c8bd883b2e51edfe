"""Breakwater's Python client and CLI. `from breakwater import Client`."""

from .client import Client, QueryError
from .url import InvalidUrl, parse_url

__all__ = ["Client", "InvalidUrl", "QueryError", "parse_url"]
