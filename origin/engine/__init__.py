"""The query engine: Prisma JSON protocol → plan → SQL → execute → shape, one module per stage.

- the schema model: `schema`, built from a Prisma schema (`psl/`) or a live database (`introspect`);
- parse: `request` (bodies → typed queries), `fingerprint` (the query's shape and its values);
- plan: `nodes` (the plan's types), built by `filters` (where; a field's own filter in
  `fieldfilters`), `reads` (selection, find, order, cursor, distinct), `aggregates` (aggregate,
  groupBy) on `arguments` (values as bind sources), and `writes` (nested writes → ordered
  statements as `writenodes`; its parts `writesteps`, `writelinks`, `writecreates`,
  `writeupdates`), joined up by `compile` into a `program.Program` (writes: one function per action
  in `writeactions`);
- SQL: `sql` renders read plans, on `sqlbuilder` (parameters, aliases, joins), `jsonsql` (values),
  `sqlfilters` (conditions), `sqlorder` (order, cursors) and `aggregatesql`; `writesql` renders the
  `writenodes` plan of writes; all with `$n` parameters (`params` says where each value comes from,
  `values` converts and validates them); identifiers and schema-derived names are quoted only in
  `quoting`;
- execute: `program.run`, one statement or several in one transaction; `raw` for queryRaw/executeRaw;
- shape: `shape` (results are built as JSON-protocol values inside Postgres, see `jsonsql`).

`engine.run(schema, query, conn)` is the entry point; compiled programs are cached per schema by shape.
"""
