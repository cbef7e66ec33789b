"""The audit trail: who changed what, and when. ``record``/``recorded`` write entries; ``actor_of`` names the caller."""

from roset_local.audit.actions import ACTIONS, Action
from roset_local.audit.actor import Actor, actor_of, anonymous, cli_actor
from roset_local.audit.record import Entry, record, record_command, recorded, redact, single_space

__all__ = ["ACTIONS", "Action", "Actor", "Entry", "actor_of", "anonymous", "cli_actor", "record",
           "record_command", "recorded", "redact", "single_space"]
