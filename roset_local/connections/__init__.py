"""Storage connections as a feature: create/verify/test, incremental sync into nodes, node uploads/downloads."""
