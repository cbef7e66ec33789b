"""Hard use: clients uploading, deleting, cancelling, re-processing and searching the same files at once,
with the server killed (SIGKILL) and restarted in the middle; afterwards every invariant holds."""

from __future__ import annotations

import pytest

from tests.chaos import Chaos

pytestmark = pytest.mark.slow


def test_random_clients_and_a_kill_leave_every_invariant_intact(make_live_server) -> None:
    server = make_live_server(ROSET_RATE_LIMIT="1000000")
    chaos = Chaos(server, seed=7)
    chaos.storm(16, clients=4, kill=True)
    chaos.check(settle=240)
    assert chaos.violations == []
    assert chaos.log_errors() == []
    # the storm did each kind of thing, and the conflicts it provoked were answered as such
    assert {"upload", "delete", "cancel", "process", "retry", "search", "variants"} <= set(chaos.ops)
    assert chaos.deleted and chaos.files and chaos.statuses[409] > 0
    assert not [code for code in chaos.statuses if code >= 500]
