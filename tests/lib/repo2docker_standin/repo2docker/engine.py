"""Stand-in for repo2docker.engine: the ContainerEngine interface as repo2docker documents it.

Engines subclass ContainerEngine (a traitlets LoggingConfigurable created with
parent=...), have registry_credentials (from CONTAINER_ENGINE_REGISTRY_CREDENTIALS),
and build() returns an iterable of progress strings when string_output is True,
raising on failure. load_engine() looks an engine up the way repo2docker does:
by name in the repo2docker.engines entry-point group.
"""
import json
import os
from importlib.metadata import entry_points

from traitlets import Dict, default
from traitlets.config import Application, LoggingConfigurable


class ContainerEngineException(Exception):
    pass


class BuildError(ContainerEngineException):
    pass


class ContainerEngine(LoggingConfigurable):
    string_output = True

    registry_credentials = Dict(help="registry credentials", config=True)

    @default("registry_credentials")
    def _registry_credentials_default(self):
        value = os.environ.get("CONTAINER_ENGINE_REGISTRY_CREDENTIALS")
        return json.loads(value) if value else {}

    def __init__(self, *, parent):
        super().__init__(parent=parent)

    def build(self, *, push=False, load=False, buildargs=None, cache_from=None,
              container_limits=None, tag="", custom_context=False, dockerfile="",
              fileobj=None, path="", labels=None, platform=None, **kwargs):
        raise NotImplementedError

    def images(self):
        raise NotImplementedError

    def inspect_image(self, image):
        raise NotImplementedError

    def push(self, image_spec):
        raise NotImplementedError


def load_engine(name, parent=None):
    """Instantiate the engine registered under name, as repo2docker's app does."""
    eps = entry_points(group="repo2docker.engines")
    matches = [ep for ep in eps if ep.name == name]
    if not matches:
        raise ValueError(f"no repo2docker engine named {name!r}")
    cls = matches[0].load()
    return cls(parent=parent or Application())
