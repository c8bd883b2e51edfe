"""The connection pool's parts; `origin/tenants.py` (`Tenants`) is its one front, which the rest of the
origin borrows through. `settings` (sizes and times), `errors` (what a borrower can be told),
`loans` (a connection lent or idle), `host` (a host's budget and the fair-share rules),
`database` (one database's connections, per role), `connect` (opening one through the host's proxy)."""
