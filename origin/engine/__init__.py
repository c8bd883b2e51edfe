"""The query engine: Prisma JSON protocol → plan → SQL → rows → JSON-protocol result.

Stages, each a module: `schema` (the model), `introspect` (model from a live database), `request`
(parse and validate the JSON protocol against the model), `plan`, `sql` (text + bind parameters;
identifiers quoted only in `quoting`), `execute`, `shape` (tagged JSON values).
"""
