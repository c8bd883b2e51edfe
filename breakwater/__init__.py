"""Breakwater's Python client and CLI. `from breakwater import Client`."""

from .client import Client, Json, Operation, QueryError, Transaction
from .stream import EventStream, StreamError
from .url import InvalidUrl, parse_url

__all__ = [
    "Client",
    "EventStream",
    "InvalidUrl",
    "Json",
    "Operation",
    "QueryError",
    "StreamError",
    "Transaction",
    "parse_url",
]
