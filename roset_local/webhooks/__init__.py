"""Signed webhooks fed by the event outbox; nothing recorded is lost, even across a crash.

Emitting an event (code outside this package): record it in the *same* transaction as the state
change that causes it, then wake the relay once the transaction has committed::

    from roset_local.store.events import record_event

    with services.db.write():
        ...                                   # the state change, e.g. a job becomes completed
        record_event(services.db, "file.processing.completed",
                     {"file_id": f, "job_id": j, "space": s, "status": "completed"}, space=s)
    services.hooks.events_committed()  # optional: low latency; a 0.5 s poll catches the rest

File events carry ``file_id``, ``job_id``, ``space``, ``status`` (and ``error`` on failure).

Modules: ``signing`` (Standard Webhooks secrets and signatures), (the SSRF guard is :mod:`roset_local.netguard`),
``delivery`` (one attempt), ``relay`` (outbox relay + dispatcher), ``runtime`` (the relay and
dispatcher of a running Services, assembled by ``roset_local.wiring``), ``manage`` (the operations behind the HTTP API).
"""
