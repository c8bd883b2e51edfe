"""The local edge runtime: the same `bwedge` code the Worker runs, served on CPython.

It stands in for Cloudflare's runtime pieces (fetch to the origin, Durable Objects with SQLite
storage, `waitUntil`) so the whole stack runs and is tested without Cloudflare or the internet.
"""
