"""The origin: stateless pool service behind the edge (Starlette + uvicorn + asyncpg)."""
