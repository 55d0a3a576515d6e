"""DeepSpeed ZeRO learner: scoring, PPO update, weight sync and checkpoints (see learner.py)."""

from trainer.learner.checkpoint import CheckpointManager
from trainer.learner.learner import Learner
from trainer.learner.learner_setup import LearnerSetup

__all__ = ["CheckpointManager", "Learner", "LearnerSetup"]
