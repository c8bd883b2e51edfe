"""The contract between Breakwater's parts: what the edge, the origin, the host agent and the Python
client must agree on, byte for byte. API keys (`keys`), signed service requests (`service`), event
offsets (`offsets`), transaction ids (`txid`), event filters (`eventfilter`), JSON text from outside
(`jsontext`), the names on the edge-origin wire (`wire`), and every error code (`codes`).

Standard library only, and nothing else of ours: it runs in the Worker (Pyodide) as on CPython, and
every other package may import it. It lives in `edge/` because that folder is the Worker bundle's
module root (wrangler's `base_dir`), which must contain everything the Worker imports.
"""
