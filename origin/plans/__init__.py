"""Prisma 7 query plans: the client compiles each query into a plan that carries its SQL; this package
checks a plan (`check`), renders its SQL templates (`template`), binds its values (`binds`), runs it
against one connection (`interpreter`, `executor`) and maps the rows to the JSON protocol (`datamap`,
`raw`). It needs no schema: everything the server must know is in the plan.
"""
