"""What the edge does for the console (`/console/...`), the web page operators and teams read.

A browser holds no API key, so the edge authenticates nobody here: the origin keeps the console's
sessions (an HttpOnly cookie it set when someone signed in with the admin token or an API key) and
checks them on every request. The edge bounds the body (a console form is small), signs the request
for the origin as a console request, whose claims hold no key (so it can never pass for a key's
request, nor a key's request for it), and forwards the cookie, which it strips from every other route.
"""

from __future__ import annotations

from bwcontract.wire import CONSOLE_CLAIM

# A console form is a few fields; anything larger is not one.
MAX_BODY_BYTES = 64 * 1024
# What the origin finds in the signed claims of a console request.
CLAIMS = {CONSOLE_CLAIM: "1"}
# The one request header the console needs that the edge keeps from every other route.
KEPT_HEADERS = frozenset({"cookie"})
