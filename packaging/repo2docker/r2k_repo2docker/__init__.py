"""repo2docker engine that streams the build context to an r2k runner."""

from .engine import R2kBuildError, R2kEngine, client_command  # noqa: F401

__all__ = ["R2kEngine", "R2kBuildError", "client_command"]
