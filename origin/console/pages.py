"""Rendering: Jinja templates (escaped by default) into responses with the console's headers.

Every page is `no-store` (it shows a live state, and sometimes a secret once) and carries a
Content-Security-Policy that admits only the console's own stylesheet and script: no inline script,
no inline style, nothing from elsewhere, no framing, forms posting only here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response

from . import charts, insights, usage

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

STATIC_TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


def _static_files() -> dict[str, bytes]:
    folder = resources.files("origin.console").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in STATIC_TYPES}


STATIC = _static_files()
# Pages name the files with a digest of their contents, so a browser never keeps an old one.
STATIC_VERSION = hashlib.sha256(b"".join(STATIC[n] for n in sorted(STATIC))).hexdigest()[:12]


def mib(kb: Any) -> str:
    if kb is None:
        return "—"
    return f"{float(kb) / 1024:,.1f} MiB"


def size(count: Any) -> str:
    if count is None:
        return "—"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"  # pragma: no cover


def seconds(value: Any) -> str:
    """A duration as people say it: 42 s, 3 min 5 s, 2 h 10 min, 3 d 4 h."""
    if value is None:
        return "—"
    total = float(value)
    if total < 10:
        return f"{total:.1f} s"
    whole = int(total)
    for unit, span, smaller, smaller_span in (("d", 86400, "h", 3600), ("h", 3600, "min", 60)):
        if whole >= span:
            return f"{whole // span} {unit} {whole % span // smaller_span} {smaller}"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole} s"


def number(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def money(value: Any) -> str:
    """An amount in the deployment's currency, to the cent (metering keeps four places)."""
    return "—" if value is None else f"{value:,.2f}"


def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value):.0f} %"


def when(value: dt.datetime | None) -> str:
    return "—" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def stream_bars(streams: list[dict[str, Any]]) -> list[charts.Bar]:
    return [
        charts.Bar(s["name"] or "(unnamed)", float(s["behind"]), f"{s['behind']:,} behind") for s in streams
    ]


def memory_bars(instances: list[dict[str, Any]]) -> list[charts.Bar]:
    return [
        charts.Bar(
            i["name"], float(i.get("memory_pss_kb") or 0), f"{mib(i.get('memory_pss_kb'))} · {i['state']}"
        )
        for i in instances
    ]


_env = Environment(
    loader=PackageLoader("origin.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    mib=mib, size=size, seconds=seconds, number=number, when=when, money=money, percent=percent
)
_env.globals.update(
    bar_chart=charts.bar_chart,
    meter=charts.meter,
    column_chart=charts.column_chart,
    operations_columns=usage.operations_columns,
    figure_columns=usage.figure_columns,
    hit_ratio_columns=usage.hit_ratio_columns,
    evidence_items=insights.evidence_items,
    size_text=size,
    number_text=number,
    stream_bars=stream_bars,
    memory_bars=memory_bars,
    static_version=STATIC_VERSION,
)


def render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Response:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def static(name: str) -> Response:
    return Response(
        STATIC[name],
        media_type=STATIC_TYPES[name],
        headers={
            "x-content-type-options": "nosniff",
            "cache-control": "public, max-age=31536000, immutable",
        },
    )
