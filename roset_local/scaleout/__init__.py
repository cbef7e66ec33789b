"""Worker hosts: extraction, chunking and embedding on other machines, sharing a Redis queue and an object store.

Entry points: :func:`roset_local.scaleout.server.attach` (the API host: dispatch work orders, apply
commits as the only writer of ``roset.db``, watch leases) and :func:`roset_local.scaleout.worker.run`
(``roset-local worker --queue redis://... --storage s3://...`` on a host without a data directory).
"""
