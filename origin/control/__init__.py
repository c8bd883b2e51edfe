"""The control plane: workspaces, databases, API keys and usage, in a Postgres database of its own."""
