"""Gymnasium text environments for turnrl and the process pool that runs them.

Registration uses string entry points so that ``import envs`` stays cheap: ALFWorld, WebShop
and SWE pull in heavy dependencies (TextWorld, search indexes, sandboxes) that only the env
worker processes need, never the trainer's config validation or the CLI.
"""

import gymnasium

ENV_NAMES: dict[str, str] = {
    "alfworld": "turnrl/ALFWorld-v0",
    "webshop": "turnrl/WebShop-v0",
    "swe": "turnrl/SWE-v0",
    "toy": "turnrl/Toy-v0",
}

_ENTRY_POINTS: dict[str, str] = {
    "turnrl/ALFWorld-v0": "envs.alfworld.env:ALFWorldEnv",
    "turnrl/WebShop-v0": "envs.webshop.env:WebShopEnv",
    "turnrl/SWE-v0": "envs.swe.env:SWEEnv",
    "turnrl/Toy-v0": "envs.toy:ToyEnv",
}

for _env_id, _entry_point in _ENTRY_POINTS.items():
    # Re-importing (e.g. importlib.reload in a notebook) must not trip gymnasium's duplicate warning.
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point)

__all__ = ["ENV_NAMES"]
