"""What every `breakwater` command shares: finding the stack, calling the admin API, printing JSON or
a table with a header row."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx


class CliError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def find_dev_json(start: Path | None = None) -> Path | None:
    """BREAKWATER_HOME's dev.json (as scripts/dev uses it), else the nearest `.breakwater/dev.json`."""
    home = os.environ.get("BREAKWATER_HOME")
    if home:
        path = Path(home) / "dev.json"
        return path if path.exists() else None
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / ".breakwater" / "dev.json"
        if candidate.exists():
            return candidate
    return None


def target(args: argparse.Namespace) -> tuple[str, str]:
    origin = args.origin or os.environ.get("BREAKWATER_ORIGIN_URL")
    token = args.admin_token or os.environ.get("BREAKWATER_ADMIN_TOKEN")
    if not (origin and token):
        found = find_dev_json()
        if found is not None:
            info = json.loads(found.read_text())
            origin = origin or info.get("origin_url")
            token = token or info.get("admin_token")
    if not (origin and token):
        raise CliError(
            "No running stack found.",
            "Start one with `scripts/dev`, or pass --origin and --admin-token "
            "(or set BREAKWATER_ORIGIN_URL and BREAKWATER_ADMIN_TOKEN).",
        )
    return origin.rstrip("/"), token


def call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    origin, token = target(args)
    try:
        response = httpx.request(
            method, origin + path, json=body, headers={"authorization": f"Bearer {token}"}, timeout=120
        )
    except httpx.HTTPError as exc:
        raise CliError(
            f"Could not reach the origin at {origin}: {exc}", "Is `scripts/dev` running?"
        ) from None
    try:
        payload: dict[str, Any] = response.json()
    except ValueError:
        raise CliError(f"The origin answered {response.status_code} with: {response.text[:200]}") from None
    if response.status_code >= 400:
        raise CliError(
            f"{payload.get('message', response.text)} [{payload.get('code', response.status_code)}]",
            str(payload.get("hint", "")),
        )
    return payload


def emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    print(json.dumps(payload, indent=2) if args.json else human)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns as wide as their widest cell, the header first."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    )
