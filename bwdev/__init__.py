"""Breakwater's dev tooling: the `breakwater` CLI (`cli`), the whole stack on one machine (`stack`)
behind `scripts/dev` and the tests, and the foreground runner (`dev`). Tooling sits on top of every
layer and may import any of them; nothing imports it but tests and benchmarks."""
