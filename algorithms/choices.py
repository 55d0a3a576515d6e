"""Every choice list of the estimators and losses, in one torch-free module.

The config schema (``trainer/config.py``) builds its allowed values from these tuples and the code checks its
arguments against the same ones, so a new mode is added in one place. Importing this module imports no torch:
``algorithms/__init__.py`` loads the tensor code only when one of its public names is first used.
"""

ESTIMATOR_NAMES = ("grpo", "gigpo", "epo", "aem")
"""The built-in advantage estimators (each registers itself under its name)."""
BASE_ESTIMATORS = ("grpo", "gigpo")
"""Estimators that EPO and AEM can wrap."""
NORMS = ("mean_std", "mean")
"""Group normalisation of GRPO / GiGPO: (R - mean) / (std + eps), or R - mean."""
UNCERTAINTIES = ("entropy", "surprisal", "relative_surprisal")
"""AEM's response-level uncertainty."""
SMOOTHING_MODES = ("paper", "released")
"""EPO's entropy smoothing: the paper's formula, or what the authors' released code computes."""
LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
"""How token losses are reduced to one scalar (``losses.agg_loss``)."""
KL_KINDS = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3")
"""KL estimators (verl naming; ``losses.kl_penalty``)."""
ROLLOUT_CORRECTION_MODES = ("none", "token_truncate", "token_mask", "sequence_mask")
"""Importance correction between the engine's sampling policy and the learner's (``rollout_correction``)."""
