"""Breakwater's Python client and CLI. `from breakwater import Client`."""

from .client import Client, Json, Operation, QueryError, Transaction
from .url import InvalidUrl, parse_url

__all__ = ["Client", "InvalidUrl", "Json", "Operation", "QueryError", "Transaction", "parse_url"]
