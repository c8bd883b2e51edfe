"""Values as the JSON protocol has them, computed inside Postgres: each record is a
`json_build_object` whose values are already in the protocol's shape (tagged
BigInt/DateTime/Decimal/Bytes/Json, enum names), so the result text can go to the client as it is.
`output` is the Python twin of `scalar_json`, for change events."""

from __future__ import annotations

from .quoting import literal
from .schema import ScalarField, Schema

# json_build_object takes at most 100 arguments (FUNC_MAX_ARGS).
_MAX_PAIRS = 50


def _datetime_text(expr: str, native: str) -> str:
    if native.startswith("time") and not native.startswith("timestamp"):
        # A time of day is reported on 1970-01-01, as Prisma does.
        moment = f"('1970-01-01'::date + ({expr})::time)"
        return f'to_char({moment}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    if native.startswith("timestamptz"):
        moment = f"({expr} AT TIME ZONE 'UTC')"
    else:
        moment = f"({expr})::timestamp"
    iso = f'to_char({moment}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    # ±infinity and BC dates have no ISO form: Postgres's own text, which the client reads as an
    # invalid date, as Prisma's driver has them.
    return f"(CASE WHEN isfinite({expr}) AND {expr} >= '0001-01-01' THEN {iso} ELSE ({expr})::text END)"


def finite(expr: str) -> str:
    # NaN and the infinities are not JSON numbers (Postgres's JSON has them as strings): null, as
    # Prisma's engine reads them through its driver.
    return f"NULLIF(NULLIF(NULLIF({expr}, 'NaN'), 'Infinity'), '-Infinity')"


def _tagged(tag: str, text: str) -> str:
    return f"json_build_object('$type', {literal(tag)}, 'value', {text})"


def scalar_json(schema: Schema, f: ScalarField, expr: str) -> str:
    """An SQL expression giving the JSON-protocol value of field `f` held in `expr`."""
    if f.is_list:
        element = ScalarField(f.name, f.column, f.type, native_type=f.native_type, is_enum=f.is_enum)
        inner = scalar_json(schema, element, "u.x")
        # A list field is never null for Prisma: a NULL array reads as [].
        if inner == "u.x":
            return f"coalesce(to_json({expr}), '[]'::json)"
        return (
            f"coalesce((SELECT json_agg({inner} ORDER BY u.o) "
            f"FROM unnest({expr}) WITH ORDINALITY AS u(x, o)), '[]'::json)"
        )
    native = (f.native_type or "").lower()
    text: str | None = None
    tag = f.type
    if f.is_enum:
        enum = schema.enums.get(f.type)
        if enum is not None and enum.mapped:
            cases = " ".join(f"WHEN {literal(v.db_name)} THEN {literal(v.name)}" for v in enum.values)
            return f"(CASE ({expr})::text {cases} END)"
        return f"({expr})::text"
    if f.type == "BigInt":
        text = f"({expr})::text"
    elif f.type == "DateTime":
        text = _datetime_text(expr, native)
    elif f.type == "Decimal":
        text = f"trim_scale({expr})::text"
    elif f.type == "Json":
        text = f"({expr})::text"
    elif f.type == "Bytes":
        text = f"translate(encode({expr}, 'base64'), E'\\n', '')"
    elif f.type == "Float":
        keeps = native in ("", "doubleprecision", "float8", "real", "float4")
        return finite(expr if keeps else f"({expr})::float8")
    if text is None:
        return expr
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {_tagged(tag, text)} END"


def json_object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) <= _MAX_PAIRS:
        return "json_build_object(" + ", ".join(f"{literal(k)}, {v}" for k, v in pairs) + ")"
    chunks = [pairs[i : i + _MAX_PAIRS] for i in range(0, len(pairs), _MAX_PAIRS)]
    merged = " || ".join(f"({json_object(c)})::jsonb" for c in chunks)
    return f"({merged})::json"
