"""The edge's query cache: Accelerate's `cacheStrategy` (ttl, swr, tags) over the Workers Cache API.

The pipeline, one module per stage: `classify` (is this a cacheable read, and what is its key
material) → `policy` (the client's strategy; fresh / swr / miss) → `key` (canonical SHA-256 key,
tag versions folded in) → `entry` (a cached response and its metadata as a Cache API object) →
`layer` (the handlers the `EdgeApp` registers). `versions` is the Durable Object that makes tag
invalidation global and strongly consistent; `coalesce` keeps concurrent misses of one key to one
origin request. Everything here is runtime-neutral; the Worker shell and edge_local supply the
ports in `ports`.
"""
