"""Offline WebShop (Yao et al. 2022): shop pages, original scoring, generated catalog, real-data loader.

Modules: ``shop`` (page state machine + text pages), ``reward`` (purchase score),
``search`` (BM25), ``products``/``goals``/``catalog`` (data), ``generate`` + ``vocab``
(built-in catalog), ``expert`` (scripted policy), ``env`` (``WebShopEnv``), ``spec`` (its registration).
Importing the package imports none of them: ``import envs`` must stay cheap.
"""
