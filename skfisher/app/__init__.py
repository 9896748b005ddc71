"""``skfisher label serve``: a local labeling page driven by an active-learning strategy."""

from ._server import create_app, serve

__all__ = ["create_app", "serve"]
