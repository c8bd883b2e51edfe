"""SQL comments a Prisma 7 client attaches to a query (`comments`, computed by its sqlcommenter
plugins): appended to every statement the plan runs as `/*key='value',...*/`, as Prisma's own
executor does, so database logs and pg_stat_activity show which request ran what.

Keys and values are percent-encoded like JavaScript's encodeURIComponent, which encodes `/`: the
text can never close the comment early, whatever the client sent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import BadRequest

# encodeURIComponent leaves these unescaped.
_UNRESERVED = "-_.!~*'()"
MAX_COMMENT_CHARS = 4_096


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def _pair(key: str, value: str) -> str:
    # encodeURIComponent leaves `'` alone; the quoted value escapes it.
    quoted = _encode(value).replace("'", "\\'")
    return f"{_encode(key)}='{quoted}'"


def sql_comment(tags: Any) -> str:
    """The comment for `tags` ({} or None: none); BadRequest if they are not string pairs."""
    if tags is None or tags == {}:
        return ""
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise BadRequest("`comments` must be an object of string values.")
    # JavaScript's localeCompare, as Prisma sorts them: letters by their base first, lower case first.
    keys = sorted(tags, key=lambda k: (k.casefold(), k.swapcase()))
    comment = "/*" + ",".join(_pair(k, tags[k]) for k in keys) + "*/"
    if len(comment) > MAX_COMMENT_CHARS:
        raise BadRequest(f"`comments` come to more than {MAX_COMMENT_CHARS} characters.")
    return comment
