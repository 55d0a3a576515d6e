"""Which weights an engine served: the version the learner's sync stamps on the engine and rollouts carry.

The learner stamps every sync with the number of updates its weights include and a fingerprint of the tensors
it streamed; the engine keeps the stamp, every trajectory copies the stamp of the engine that played it, and
the trainer refuses a batch whose stamp is not the learner's current one (a sync that was skipped, ran out of
order, or came from another learner). What the engine then computes with those weights is checked by the
log-prob gap (``trainer.policy_guard``): a stamp proves which sync the engine took, not that it applied it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyVersion:
    """``updates``: learner updates the weights include; ``fingerprint``: digest of the synced tensors, empty
    for the weights the engine and the learner both loaded from the model folder at start."""

    updates: int
    fingerprint: str

    def __str__(self) -> str:
        return f"update {self.updates} ({self.fingerprint or 'model folder'})"


MODEL_FOLDER = PolicyVersion(0, "")
"""The version of an engine or learner that has loaded the model folder and taken no sync yet."""
