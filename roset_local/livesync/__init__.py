"""Live sync: changes applied within seconds, without a sync call, through the sync's own code path.

Entry points: ``runner.LiveSync`` (one thread per server, started by the app's lifespan) watches the
directories of ``local`` connections and applies what changed once it settles; ``events.receive``
applies the S3/MinIO bucket notifications posted to ``POST /v1/connections/:id/events``, authenticated
by the connection's ``secret``. Both end in :func:`roset_local.connections.sync.apply_scope`; the
periodic full reconciliation (``sync_interval_minutes``) stays the safety net.
"""
