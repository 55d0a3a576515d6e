"""ALFWorld text games (TextWorld + PDDL) as a gymnasium env, with an offline game generator.

``envs.alfworld.env.ALFWorldEnv`` plays games in the official ``json_2.1.1`` layout;
``python -m envs.alfworld.generation.generate`` writes such games from the floor plans shipped in the
alfworld wheel. Heavy imports (textworld, fast_downward) live in the submodules.
"""
