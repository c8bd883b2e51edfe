"""The HTTP routes of the origin's services, above them: the operator API (`/admin/...`, Bearer admin
token: `admin` databases and keys, `hostadmin` hosts and moves, `meteringadmin` workspaces, plans and
usage, and the admin routes of `capture` and `insights`) and the service routes the edge calls
(`metering`'s usage and hits, `capture`'s stream preparation, `insights`). The services below
(`control/`, `metering/`, `insights/`, `capture/`) never import these, `state.py` or `auth.py`."""
