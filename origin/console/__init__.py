"""The console: web pages for operators and teams, served by the origin through the edge.

`routes` (pages and forms) → `gate` (signed by the edge, then the session) → `viewer` (what who may
see and do) → `figures` (gathered from the control plane, the host agent, the pool and the edge) →
`pages` (Jinja templates, `charts` as inline SVG). Sessions live in the control plane (`sessions`).
No JavaScript is needed to read; `static/console.js` refreshes live figures and copies secrets.
"""
