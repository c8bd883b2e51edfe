"""`python -m hosts --port 8789`: run the host agent (settings from BREAKWATER_HOSTS_* variables)."""

from __future__ import annotations

from bwservice import logs
from bwservice.serve import serve

if __name__ == "__main__":
    logs.configure()
    serve("hosts", "hosts.agent:create_app", 8789, __doc__)
