"""The CLI's metering commands: `usage`, `workspace create|list|show`, `plan list|create|update|set`,
`limit set|show` (the admin API of origin/api/meteringadmin.py)."""

from __future__ import annotations

import argparse
import re
from typing import Any
from urllib.parse import urlencode

from .cliutil import CliError, call, emit, table

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def size(value: int | None) -> str:
    """Bytes as people read them: 996 B, 7.4 MiB."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _average(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


# --- usage -------------------------------------------------------------------------------------------


def cmd_usage(args: argparse.Namespace) -> None:
    query: dict[str, str] = {}
    if args.month:
        if not _MONTH.match(args.month):
            raise CliError(f"--month takes YYYY-MM, not {args.month!r}.")
        query["month"] = args.month
    if args.workspace:
        query["workspace"] = args.workspace
    if args.database:
        query["database"] = args.database
    result = call(args, "GET", "/admin/usage" + (f"?{urlencode(query)}" if query else ""))
    if args.database:
        _print_database(args, result)
        return
    rows = [
        [
            d["database"],
            d["workspace"],
            _number(d["operations"]),
            _number(d["cache_hits"]),
            _number(d["database_operations"]),
            _number(d["errors"]),
            size(d["egress_bytes"]),
            _average(d["average_duration_ms"]),
            size(d["average_response_bytes"]),
            size(d["storage_bytes"]),
        ]
        for d in result["databases"]
    ]
    header = ["DATABASE", "WORKSPACE", "OPERATIONS", "CACHE HITS", "DB OPS", "ERRORS", "EGRESS", "AVG MS"]
    header += ["AVG SIZE", "STORAGE"]
    emit(
        args, result, f"usage in {result['month']} (UTC)\n" + table(header, rows) if rows else "no databases"
    )


def _print_database(args: argparse.Namespace, result: dict[str, Any]) -> None:
    def row(label: str, f: dict[str, Any]) -> list[str]:
        return [
            label,
            _number(f["operations"]),
            _number(f["cache_hits"]),
            _number(f["database_operations"]),
            _number(f["errors"]),
            size(f["egress_bytes"]),
            _average(f["average_duration_ms"]),
            size(f["average_response_bytes"]),
        ]

    header = ["DAY", "OPERATIONS", "CACHE HITS", "DB OPS", "ERRORS", "EGRESS", "AVG MS", "AVG SIZE"]
    rows = [row(d["day"], d) for d in result["days"]] + [row("total", result["totals"])]
    lines = [
        f"{result['database']} (workspace {result['workspace']}) in {result['month']} (UTC); "
        f"storage {size(result['storage_bytes'])}",
        table(header, rows),
    ]
    emit(args, result, "\n".join(lines))


# --- workspaces --------------------------------------------------------------------------------------


def cmd_workspace_create(args: argparse.Namespace) -> None:
    result = call(args, "POST", "/admin/workspaces", {"name": args.name, "plan": args.plan})
    emit(args, result, f"workspace {result['name']} created (plan {result['plan']})")


def cmd_workspace_list(args: argparse.Namespace) -> None:
    result = call(args, "GET", "/admin/workspaces")
    rows = [[w["name"], w["plan"], str(w["databases"]), w["state"]] for w in result["workspaces"]]
    emit(args, result, table(["NAME", "PLAN", "DATABASES", "STATE"], rows))


def _account_lines(result: dict[str, Any]) -> list[str]:
    standing, bill, use, limits = result["standing"], result["bill"], result["usage"], result["limits"]
    enforced = result["enforced"]
    state = enforced["state"] + (f": {enforced['message']}" if enforced["message"] else "")
    webhook = limits["webhook_url"] or "none"
    operations = _number(limits["operations"]) if limits["operations"] is not None else "the plan's"
    alerts = ", ".join(f"{a} %" for a in limits["alerts"])
    return [
        f"workspace   {result['name']} (plan {result['plan']}, {result['databases']} databases)",
        f"month       {result['period']}: {use['operations']:,} operations, "
        f"storage {size(use['storage_bytes'])}",
        f"bill        {bill['total']} so far ({bill['monthly_price']} plan + {bill['usage']} usage)",
        f"limits      operations {operations}, spend {limits['spend'] or 'none'}, alerts at {alerts}",
        f"webhook     {webhook}",
        f"standing    {standing['percent']:g} % of its {standing['limit'] or 'limits'}",
        f"state       {state}",
    ]


def cmd_workspace_show(args: argparse.Namespace) -> None:
    result = call(args, "GET", f"/admin/workspaces/{args.name}")
    alerts = call(args, "GET", f"/admin/workspaces/{args.name}/alerts")["alerts"]
    lines = _account_lines(result)
    if alerts:
        rows = [
            [
                a["period"],
                f"{a['threshold']} %",
                a["limit"] or "-",
                a["state"],
                a["delivery"],
                str(a["attempts"]),
            ]
            for a in alerts
        ]
        lines += ["", table(["MONTH", "THRESHOLD", "LIMIT", "STATE", "DELIVERY", "ATTEMPTS"], rows)]
    emit(args, {**result, "alerts": alerts}, "\n".join(lines))


# --- plans -------------------------------------------------------------------------------------------


def _plan_row(p: dict[str, Any]) -> list[str]:
    return [
        p["name"],
        _number(p["operations"]),
        size(p["storage_bytes"]),
        _number(p["databases"]),
        p["monthly_price"],
        p["price_per_million_operations"] or "-",
        p["price_per_gib_month"] or "-",
        f"{p['graceful_stop_percent']} %" if p["graceful_stop_percent"] else "-",
    ]


_PLAN_HEADER = ["NAME", "OPERATIONS", "STORAGE", "DATABASES", "MONTHLY", "PER MILLION OPS", "PER GIB-MONTH"]
_PLAN_HEADER += ["GRACEFUL STOP"]


def cmd_plan_list(args: argparse.Namespace) -> None:
    result = call(args, "GET", "/admin/plans")
    emit(args, result, table(_PLAN_HEADER, [_plan_row(p) for p in result["plans"]]))


def _none_or(value: str, convert: Any) -> Any:
    return None if value == "none" else convert(value.replace("_", ""))


def _plan_terms(args: argparse.Namespace) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    try:
        if args.operations is not None:
            terms["operations"] = _none_or(args.operations, int)
        if args.storage_gib is not None:
            terms["storage_bytes"] = _none_or(args.storage_gib, lambda v: int(float(v) * 1024**3))
        if args.databases is not None:
            terms["databases"] = _none_or(args.databases, int)
        if args.monthly_price is not None:
            terms["monthly_price"] = args.monthly_price
        if args.price_per_million is not None:
            terms["price_per_million_operations"] = _none_or(args.price_per_million, str)
        if args.price_per_gib_month is not None:
            terms["price_per_gib_month"] = _none_or(args.price_per_gib_month, str)
        if args.graceful_stop is not None:
            terms["graceful_stop_percent"] = _none_or(args.graceful_stop.rstrip("%"), int)
    except ValueError as exc:
        raise CliError(f"not a number: {exc}") from None
    if args.limit:
        limits: dict[str, int] = {}
        for setting in args.limit:
            name, sep, value = setting.partition("=")
            if not sep or not value.replace("_", "").isdigit():
                raise CliError(
                    f"--limit takes NAME=NUMBER, not {setting!r}.", "e.g. --limit query_timeout_ms=5000"
                )
            limits[name] = int(value.replace("_", ""))
        terms["limits"] = limits
    return terms


def cmd_plan_create(args: argparse.Namespace) -> None:
    result = call(args, "POST", "/admin/plans", {"name": args.name, **_plan_terms(args)})
    emit(args, result, table(_PLAN_HEADER, [_plan_row(result)]))


def cmd_plan_update(args: argparse.Namespace) -> None:
    result = call(args, "PUT", f"/admin/plans/{args.name}", _plan_terms(args))
    emit(args, result, table(_PLAN_HEADER, [_plan_row(result)]))


def cmd_plan_set(args: argparse.Namespace) -> None:
    result = call(args, "PUT", f"/admin/workspaces/{args.workspace}/plan", {"plan": args.plan})
    emit(args, result, "\n".join(_account_lines(result)))


# --- limits ------------------------------------------------------------------------------------------


def cmd_limit_set(args: argparse.Namespace) -> None:
    changes: dict[str, Any] = {}
    try:
        if args.operations is not None:
            changes["operations"] = _none_or(args.operations, int)
        if args.spend is not None:
            changes["spend"] = _none_or(args.spend, str)
        if args.alerts is not None:
            changes["alerts"] = [int(p.strip().rstrip("%")) for p in args.alerts.split(",") if p.strip()]
    except ValueError as exc:
        raise CliError(f"not a number: {exc}") from None
    if args.webhook is not None:
        changes["webhook_url"] = None if args.webhook == "none" else args.webhook
    if args.webhook_secret is not None:
        changes["webhook_secret"] = args.webhook_secret
    if not changes:
        raise CliError(
            "Nothing to set.", "Give --operations, --spend, --alerts, --webhook or --webhook-secret."
        )
    result = call(args, "PUT", f"/admin/workspaces/{args.workspace}/limits", changes)
    emit(args, result, "\n".join(_account_lines(result)))


def cmd_limit_show(args: argparse.Namespace) -> None:
    result = call(args, "GET", f"/admin/workspaces/{args.workspace}")
    emit(args, result, "\n".join(_account_lines(result)))


# --- the parser --------------------------------------------------------------------------------------


def add_commands(sub: Any, common: list[argparse.ArgumentParser], group: Any) -> None:
    """Register the commands on the CLI's subparsers (`group(name, help)` makes a command group)."""
    p = sub.add_parser(
        "usage",
        help="operations, cache hits, errors, egress and storage per database for a month (UTC)",
        parents=common,
    )
    p.add_argument("database", nargs="?", help="one database: its figures day by day")
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    p.add_argument("--workspace", help="only this workspace's databases")
    p.set_defaults(run=cmd_usage)

    workspace = group("workspace", "workspaces: create, list, show (databases belong to one)")
    p = workspace.add_parser("create", help="create a workspace (plan `free` unless --plan)", parents=common)
    p.add_argument("name")
    p.add_argument("--plan", default="free")
    p.set_defaults(run=cmd_workspace_create)
    workspace.add_parser("list", help="list workspaces", parents=common).set_defaults(run=cmd_workspace_list)
    p = workspace.add_parser(
        "show", help="a workspace's plan, month so far, bill estimate, limits and alerts", parents=common
    )
    p.add_argument("name")
    p.set_defaults(run=cmd_workspace_show)

    plan = group("plan", "plans: list, create, update, set (a workspace's)")
    plan.add_parser("list", help="list plans", parents=common).set_defaults(run=cmd_plan_list)
    for verb, run, text in (
        ("create", cmd_plan_create, "define a plan"),
        ("update", cmd_plan_update, "change a plan's terms (every workspace on it)"),
    ):
        p = plan.add_parser(verb, help=text, parents=common)
        p.add_argument("name")
        p.add_argument("--operations", help="operations included a month (none: no cap)")
        p.add_argument("--storage-gib", help="storage included, in GiB (none: no cap)")
        p.add_argument("--databases", help="databases a workspace may have (none: any)")
        p.add_argument("--monthly-price", help="the plan's price a month")
        p.add_argument(
            "--price-per-million", help="rate per million operations beyond the included (none: stop there)"
        )
        p.add_argument(
            "--price-per-gib-month", help="rate per GiB-month beyond the included (none: stop there)"
        )
        p.add_argument(
            "--graceful-stop",
            metavar="PERCENT",
            help="from 100 %% serve cache hits only, until this percent (none: stop at 100 %%)",
        )
        p.add_argument(
            "--limit", action="append", metavar="NAME=VALUE", help="a per-database limit (repeatable)"
        )
        p.set_defaults(run=run)
    p = plan.add_parser("set", help="move WORKSPACE to PLAN", parents=common)
    p.add_argument("workspace")
    p.add_argument("plan")
    p.set_defaults(run=cmd_plan_set)

    limit = group("limit", "a workspace's spend limits and alerts: set, show")
    p = limit.add_parser("set", help="set WORKSPACE's limits, alert thresholds and webhook", parents=common)
    p.add_argument("workspace")
    p.add_argument("--operations", help="operations a month (none: the plan's)")
    p.add_argument("--spend", help="the most the month's usage may cost (none: no spend limit)")
    p.add_argument("--alerts", metavar="PERCENTS", help="alert thresholds, e.g. 50,75,90")
    p.add_argument("--webhook", metavar="URL", help="where alerts are POSTed, signed (none: nowhere)")
    p.add_argument("--webhook-secret", help="the HMAC key of the signatures (default: one is made)")
    p.set_defaults(run=cmd_limit_set)
    p = limit.add_parser("show", help="WORKSPACE's limits and where it stands", parents=common)
    p.add_argument("workspace")
    p.set_defaults(run=cmd_limit_show)
