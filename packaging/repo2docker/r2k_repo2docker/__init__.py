"""repo2docker engine that streams the build context to an r2k runner."""

from .engine import KanikoEngine, R2kBuildError, R2kEngine, client_command  # noqa: F401

__all__ = ["R2kEngine", "KanikoEngine", "R2kBuildError", "client_command"]
