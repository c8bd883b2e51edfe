"""Front doors: each protocol's routes, all over the same engine, pools and auth."""
