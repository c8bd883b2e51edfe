"""Breakwater's edge: the pure core the Cloudflare Worker shell and the local runtime share.

Nothing in this package may import `js`, `workers` or anything outside the standard library:
it runs unchanged on Pyodide (Cloudflare Python Workers) and on CPython (edge_local).
"""
