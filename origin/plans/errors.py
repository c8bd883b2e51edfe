"""Errors a plan can raise besides database errors (those go through `origin.dberrors`)."""

from __future__ import annotations

from bwcontract.codes import Code

from ..errors import BreakwaterError


class PlanError(BreakwaterError):
    """The plan is malformed: a missing field, a value of the wrong shape, an unbound name."""

    code = Code.PLAN_INVALID


class UnsupportedPlan(BreakwaterError):
    """The plan uses a node or option this server does not know (a newer client's plan format)."""

    code = Code.PLAN_UNSUPPORTED


class PlanTooDeep(BreakwaterError):
    """The plan nests deeper than the interpreter walks (`check.MAX_PLAN_DEPTH`)."""

    code = Code.PLAN_TOO_DEEP
