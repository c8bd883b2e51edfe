"""What every Breakwater service process shares, below the origin and the host agent: how a service
is started (`serve`), how it logs (`logs`), how it stops its background tasks (`tasks`), and how the
platform opens sessions into databases a tenant controls (`pinned`). It may import the contract
(`bwcontract`) and nothing else of ours."""
