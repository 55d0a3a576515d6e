"""The toy household text game (``envs.toy.env``) and its registration (``envs.toy.spec``)."""
