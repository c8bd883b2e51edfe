"""The operator API of metering (Bearer admin token), what the CLI and the console read:

    GET  /admin/workspaces                       every workspace: plan, databases, limit state
    POST /admin/workspaces {name, plan?}         a new workspace (`free` unless said)
    GET  /admin/workspaces/{name}                its plan, limits, month so far, bill estimate, standing
    PUT  /admin/workspaces/{name}/plan {plan}    move it to another plan
    GET|PUT /admin/workspaces/{name}/limits      {operations?, spend?, alerts?, webhook_url?, webhook_secret?}
    GET  /admin/workspaces/{name}/alerts         thresholds crossed and their webhook deliveries
    GET  /admin/plans, POST /admin/plans, GET|PUT /admin/plans/{name}
    GET  /admin/usage?month=YYYY-MM[&workspace=W][&database=D]   figures per database (per day for one)
    POST /admin/usage/flush                      count what the edge and this origin hold now
    POST /admin/storage/sample                   sample storage now (nothing is woken) and record it

A change of plan or limits is evaluated at once and pushed to the edge before the answer: a lifted
limit is lifted when the call returns.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract.codes import Code

from .. import jsoninput
from ..control.store import Workspace
from ..errors import BreakwaterError, NotFound, UpstreamError
from ..metering.daily import database_month, databases_month
from ..metering.plans import DEFAULT_PLAN, NewPlan, PlanTerms, money
from ..metering.standing import Account
from ..metering.webhooks import MAX_ATTEMPTS
from ..state import OriginState
from .admin import NAME_PATTERN, NAME_RULE, _authorize, _database_named
from .metering import month_of


class NewWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(strict=True, pattern=NAME_PATTERN, description=NAME_RULE)
    plan: str = Field(DEFAULT_PLAN, strict=True, description="the name of a plan")


class PlanChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(strict=True, description="the name of a plan")


_Percent = Annotated[int, Field(strict=True, ge=1, le=99)]


class LimitChanges(BaseModel):
    """A workspace's own limits; a field left out stays, `null` clears it."""

    model_config = ConfigDict(extra="forbid")

    operations: Annotated[
        int | None, Field(strict=True, ge=0, le=2**62, description="a whole number, or null")
    ] = None
    spend: Annotated[
        Decimal | None,
        Field(
            ge=0,
            le=10**9,
            max_digits=14,
            decimal_places=4,
            allow_inf_nan=False,
            description="an amount, or null",
        ),
    ] = None
    alerts: Annotated[list[_Percent], Field(max_length=10, description="up to 10 percents from 1 to 99")] = [
        75
    ]
    webhook_url: Annotated[
        str | None,
        Field(strict=True, pattern=r"^https?://[^\s]{1,2000}$", description="an http(s) URL, or null"),
    ] = None
    webhook_secret: Annotated[
        str | None,
        Field(strict=True, min_length=16, max_length=200, description="16 to 200 characters, or null"),
    ] = None


async def _workspace(state: OriginState, name: str) -> Workspace:
    found = await state.store.workspace_by_name(name)
    if found is None:
        raise NotFound(
            f"There is no workspace named {name!r}.", hint="`breakwater workspace list` shows them."
        )
    return found


def _limits_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "operations": workspace.operations_limit,
        "spend": money(workspace.spend_limit),
        "alerts": list(workspace.alert_percents),
        "webhook_url": workspace.webhook_url,
        "webhook_secret": workspace.webhook_secret,
    }


def _workspace_json(workspace: Workspace, databases: int, state: str) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "plan": workspace.plan,
        "databases": databases,
        "state": state,
        "limits": _limits_json(workspace),
        "created_at": workspace.created_at.isoformat(),
    }


async def _account_json(state: OriginState, workspace: Workspace, account: Account) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    databases = await state.store.count_databases(workspace.id)
    recorded = await state.store.pool.fetchrow(
        "SELECT state, limit_name, message, changed_at FROM limit_states WHERE workspace_id = $1",
        workspace.id,
    )
    plan = account.terms.plan
    return {
        **_workspace_json(workspace, databases, recorded["state"] if recorded else "ok"),
        "period": today.strftime("%Y-%m"),
        "plan_terms": plan.as_json(),
        "usage": {
            "operations": account.use.operations,
            "storage_bytes": account.use.storage_bytes,
            "gib_months": f"{account.gib_months:.6f}",
        },
        "bill": account.use.bill.as_json(),
        "standing": account.standing.as_json(),
        "enforced": {
            "state": recorded["state"] if recorded else "ok",
            "limit": recorded["limit_name"] if recorded else None,
            "message": recorded["message"] if recorded else "",
            "since": recorded["changed_at"].isoformat() if recorded else None,
        },
    }


async def _evaluated(state: OriginState, workspace: Workspace) -> dict[str, Any]:
    found = await state.metering.evaluator.run_once(workspace.id)
    return await _account_json(state, workspace, found[0])


async def list_workspaces(request: Request) -> JSONResponse:
    state = _authorize(request)
    rows = await state.store.pool.fetch(
        "SELECT w.id, count(d.id) AS databases, coalesce(s.state, 'ok') AS state FROM workspaces w "
        "LEFT JOIN databases d ON d.workspace_id = w.id AND d.deleted_at IS NULL "
        "LEFT JOIN limit_states s ON s.workspace_id = w.id GROUP BY w.id, s.state"
    )
    counts = {r["id"]: (int(r["databases"]), r["state"]) for r in rows}
    return JSONResponse(
        {
            "workspaces": [
                _workspace_json(w, *counts.get(w.id, (0, "ok"))) for w in await state.store.list_workspaces()
            ]
        }
    )


async def create_workspace(request: Request) -> JSONResponse:
    state = _authorize(request)
    wanted = await jsoninput.read(request, NewWorkspace)
    await state.metering.plans.get(wanted.plan)  # it exists
    made = await state.store.create_workspace(wanted.name, wanted.plan)
    if made is None:
        raise BreakwaterError(f"A workspace named {wanted.name!r} exists already.", code=Code.ALREADY_EXISTS)
    return JSONResponse(await _evaluated(state, made), status_code=201)


async def show_workspace(request: Request) -> JSONResponse:
    state = _authorize(request)
    workspace = await _workspace(state, request.path_params["name"])
    return JSONResponse(await _evaluated(state, workspace))


async def set_plan(request: Request) -> JSONResponse:
    state = _authorize(request)
    workspace = await _workspace(state, request.path_params["name"])
    wanted = await jsoninput.read(request, PlanChoice)
    await state.metering.plans.get(wanted.plan)
    changed = await state.store.update_workspace(workspace.id, {"plan": wanted.plan})
    return JSONResponse(await _evaluated(state, changed))


async def get_limits(request: Request) -> JSONResponse:
    state = _authorize(request)
    workspace = await _workspace(state, request.path_params["name"])
    return JSONResponse({"workspace": workspace.name, "limits": _limits_json(workspace)})


async def put_limits(request: Request) -> JSONResponse:
    state = _authorize(request)
    workspace = await _workspace(state, request.path_params["name"])
    given = (await jsoninput.read(request, LimitChanges)).model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "operations" in given:
        changes["operations_limit"] = given["operations"]
    if "spend" in given:
        changes["spend_limit"] = given["spend"]
    if "alerts" in given:
        changes["alert_percents"] = sorted(set(given["alerts"]))
    for name in ("webhook_url", "webhook_secret"):
        if name in given:
            changes[name] = given[name]
    if changes.get("webhook_url") and not (changes.get("webhook_secret") or workspace.webhook_secret):
        changes["webhook_secret"] = secrets.token_urlsafe(32)  # deliveries are always signed
    changed = await state.store.update_workspace(workspace.id, changes)
    return JSONResponse(await _evaluated(state, changed))


async def list_alerts(request: Request) -> JSONResponse:
    state = _authorize(request)
    workspace = await _workspace(state, request.path_params["name"])
    rows = await state.store.pool.fetch(
        "SELECT id, period, threshold, percent, limit_name, state, webhook_url, created_at, attempts, "
        "next_attempt_at, delivered_at, last_status, last_error FROM limit_alerts "
        "WHERE workspace_id = $1 ORDER BY created_at DESC, threshold DESC LIMIT 200",
        workspace.id,
    )
    return JSONResponse({"workspace": workspace.name, "alerts": [_alert_json(r) for r in rows]})


def _alert_json(row: Any) -> dict[str, Any]:
    if row["webhook_url"] is None:
        delivery = "no-webhook"
    elif row["delivered_at"] is not None:
        delivery = "delivered"
    elif row["attempts"] >= MAX_ATTEMPTS:
        delivery = "failed"
    else:
        delivery = "pending"
    return {
        "id": row["id"],
        "period": row["period"].strftime("%Y-%m"),
        "threshold": row["threshold"],
        "percent": round(row["percent"], 2),
        "limit": row["limit_name"],
        "state": row["state"],
        "created_at": row["created_at"].isoformat(),
        "delivery": delivery,
        "attempts": row["attempts"],
        "delivered_at": row["delivered_at"].isoformat() if row["delivered_at"] else None,
        "next_attempt_at": row["next_attempt_at"].isoformat() if delivery == "pending" else None,
        "last_status": row["last_status"],
        "last_error": row["last_error"],
    }


async def list_plans(request: Request) -> JSONResponse:
    state = _authorize(request)
    return JSONResponse({"plans": [p.as_json() for p in await state.metering.plans.list()]})


async def create_plan(request: Request) -> JSONResponse:
    state = _authorize(request)
    wanted = await jsoninput.read(request, NewPlan)
    return JSONResponse((await state.metering.plans.create(wanted)).as_json(), status_code=201)


async def show_plan(request: Request) -> JSONResponse:
    state = _authorize(request)
    return JSONResponse((await state.metering.plans.get(request.path_params["name"])).as_json())


async def change_plan(request: Request) -> JSONResponse:
    state = _authorize(request)
    body = await jsoninput.body(request)
    given = jsoninput.validated(PlanTerms, body).model_dump(exclude_unset=True)
    changed = await state.metering.plans.change(request.path_params["name"], given)
    await state.metering.evaluator.run_once()  # its workspaces' standings move with it
    return JSONResponse(changed.as_json())


async def usage(request: Request) -> JSONResponse:
    """Figures for a month: per database, or per day for one (`database=`)."""
    state = _authorize(request)
    month = month_of(request.query_params.get("month"))
    if request.query_params.get("database"):
        db = await _database_named(state, request.query_params["database"])
        figures = await database_month(state.store.pool, db.id, month)
        workspace = await state.store.workspace_by_id(db.workspace_id)
        return JSONResponse(
            {"database": db.name, "workspace": workspace.name if workspace else None, **figures}
        )
    workspace_id = None
    if request.query_params.get("workspace"):
        workspace_id = (await _workspace(state, request.query_params["workspace"])).id
    found = await databases_month(state.store.pool, month, workspace_id)
    return JSONResponse({"month": month.strftime("%Y-%m"), "databases": found})


async def flush(request: Request) -> JSONResponse:
    """Count now what is waiting: the edge's hits (the isolate that takes the call), this origin's
    journal; then evaluate limits. Other origin processes count theirs within their flush interval."""
    state = _authorize(request)
    edge: dict[str, Any] | str
    try:
        edge = await state.edge.flush_usage()
    except UpstreamError as exc:
        edge = f"not reached: {exc.message}"
    counted = await state.metering.meter.flush()
    await state.metering.evaluator.run_once()
    return JSONResponse({"edge": edge, "origin": {"segments": counted}})


async def sample_storage(request: Request) -> JSONResponse:
    state = _authorize(request)
    recorded = await state.metering.storage.poll(sample_now=True)
    await state.metering.evaluator.run_once()
    return JSONResponse({"recorded": recorded})


routes = [
    Route("/admin/workspaces", list_workspaces, methods=["GET"]),
    Route("/admin/workspaces", create_workspace, methods=["POST"]),
    Route("/admin/workspaces/{name}", show_workspace, methods=["GET"]),
    Route("/admin/workspaces/{name}/plan", set_plan, methods=["PUT"]),
    Route("/admin/workspaces/{name}/limits", get_limits, methods=["GET"]),
    Route("/admin/workspaces/{name}/limits", put_limits, methods=["PUT"]),
    Route("/admin/workspaces/{name}/alerts", list_alerts, methods=["GET"]),
    Route("/admin/plans", list_plans, methods=["GET"]),
    Route("/admin/plans", create_plan, methods=["POST"]),
    Route("/admin/plans/{name}", show_plan, methods=["GET"]),
    Route("/admin/plans/{name}", change_plan, methods=["PUT"]),
    Route("/admin/usage", usage, methods=["GET"]),
    Route("/admin/usage/flush", flush, methods=["POST"]),
    Route("/admin/storage/sample", sample_storage, methods=["POST"]),
]
