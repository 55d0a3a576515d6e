"""An env that exists only for tests: proof that a new env is its own folder plus one ``register`` line."""
