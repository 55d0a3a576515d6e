"""Gymnasium text environments for turnrl and the process pool that runs them.

Each env registers one ``EnvSpec`` here (its folder holds the env and the spec); the rest of turnrl reads
an env's facts from its spec only. Importing this package stays cheap: specs are pydantic and plain Python,
and ALFWorld, WebShop and SWE pull in their heavy dependencies (TextWorld, search indexes, sandboxes) only
inside the env worker processes.
"""

from envs.alfworld.spec import ALFWORLD
from envs.spec import EnvSection, EnvSpec, env_specs, get_spec, register
from envs.swe.spec import SWE
from envs.toy.spec import TOY
from envs.webshop.spec import WEBSHOP

register(ALFWORLD)
register(WEBSHOP)
register(SWE)
register(TOY)

__all__ = ["EnvSection", "EnvSpec", "env_specs", "get_spec", "register"]
