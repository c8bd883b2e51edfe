"""Breakwater's Python client and CLI. `from breakwater import Client`."""

from .client import Client, QueryError
from .stream import EventStream, StreamError
from .url import InvalidUrl, parse_url

__all__ = ["Client", "EventStream", "InvalidUrl", "QueryError", "StreamError", "parse_url"]
