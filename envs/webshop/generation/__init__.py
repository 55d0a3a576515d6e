"""Offline: the built-in WebShop catalog, products and instructions (``python -m envs.webshop.generation.generate``).
The env reads the catalog this writes (made on first use and cached); nothing here runs while it plays."""
