"""`python -m hosts --port 8789`: run the host agent (settings from BREAKWATER_HOSTS_* variables)."""

from __future__ import annotations

import argparse

import uvicorn

from origin import logs


def main() -> None:
    parser = argparse.ArgumentParser(prog="hosts", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8789)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    logs.configure()
    uvicorn.run(
        "hosts.agent:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
