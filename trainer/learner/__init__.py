"""DeepSpeed ZeRO learner: scoring, PPO update, weight sync and checkpoints (see learner.py)."""

from trainer.learner.checkpoint import CheckpointManager
from trainer.learner.learner import Learner
from trainer.learner.settings import LearnerSettings

__all__ = ["CheckpointManager", "Learner", "LearnerSettings"]
