"""Raw queries' values, for both Prisma fronts: one codec, checked against Prisma's own executor.

Parameters: Prisma's driver sends every raw parameter as text and lets Postgres parse it for the
type it inferred for the placeholder (`SELECT $1` receives a date as `2020-01-01 00:00:00`, a
`$1::date` placeholder the date). `driver_text` is that text; `bind` turns the texts into the values
asyncpg binds, letting Postgres parse whatever is not plain text (so a value that does not fit
fails with the same SQLSTATE as in Prisma).

Results: `{"columns", "types", "rows"}` with Prisma's column type names (int, bigint, float,
double, decimal, string, bool, char-array, date, time, datetime, json, bytes, uuid, `<type>-array`)
and each value as Prisma's executor sends it: Postgres's own text for decimals, times and dates,
timestamps as `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, float4 at its shortest, JSON parsed, bytes in
base64, non-finite floats as null. Types of the database's own (enums, domains' arrays, extensions)
come back as `string` holding their text. Other built-in types (interval, point, "char", …) are
refused before the query runs, as Prisma cannot read them either.

The codec's parts: `params` (what the driver sends, and binding it), `results` (columns and values
as Prisma reads them), `running` (one statement, its result and the tables it touched). The fronts
need only `Param` and `run`, named here.
"""

from __future__ import annotations

from .params import Param
from .running import Outcome, run

__all__ = ["Outcome", "Param", "run"]
