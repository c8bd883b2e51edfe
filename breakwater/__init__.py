"""Breakwater's Python client. `from breakwater import Client`.

It needs only the contract (`bwcontract`) and its own dependencies (httpx, websockets): it installs
and imports without the server's packages.
"""

from .client import Client, QueryError, Transaction
from .models import Operation
from .stream import EventStream, StreamError
from .url import InvalidUrl, parse_url
from .values import Json

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
