"""The r2k engine for repo2docker: `r2k client` streams the build context to an r2k runner.

Registered as the repo2docker engines ``r2k`` (R2kEngine) and ``kaniko``
(KanikoEngine, the same engine under repo2kaniko's class name, so that
``KanikoEngine.*`` configuration applies to it). Settings have the names and
environment variables of repo2kaniko's KanikoEngine, so existing
configurations keep working.
"""

import json
import logging
import os
import shutil
import subprocess
import threading

try:  # repo2docker is optional: the module imports without it (tests, tools).
    from repo2docker.engine import ContainerEngine as _EngineBase
except ImportError:
    _EngineBase = None
try:
    from repo2docker.engine import BuildError as _BuildErrorBase
except ImportError:
    _BuildErrorBase = RuntimeError

try:
    from traitlets import Bool, Dict, Unicode, default

    HAVE_TRAITLETS = True
except ImportError:
    HAVE_TRAITLETS = False

    class _Trait:
        """A stand-in for a traitlets trait: a default, or a method marked with @default."""

        def __init__(self, default_value=None, help="", config=False, **kwargs):
            self.default_value = default_value
            self.name = None

        def __set_name__(self, owner, name):
            self.name = name

        def __get__(self, obj, owner):
            if obj is None:
                return self
            if self.name not in obj.__dict__:
                value = self.default_value
                for klass in type(obj).__mro__:
                    for attr in vars(klass).values():
                        if getattr(attr, "_r2k_default_for", None) == self.name:
                            value = attr(obj)
                            break
                    else:
                        continue
                    break
                obj.__dict__[self.name] = value
            return obj.__dict__[self.name]

        def __set__(self, obj, value):
            obj.__dict__[self.name] = value

    def Unicode(default_value="", **kwargs):  # noqa: N802
        return _Trait(default_value, **kwargs)

    def Bool(default_value=False, **kwargs):  # noqa: N802
        return _Trait(default_value, **kwargs)

    def Dict(default_value=None, **kwargs):  # noqa: N802
        return _Trait(dict(default_value or {}), **kwargs)

    def default(name):
        def mark(fn):
            fn._r2k_default_for = name
            return fn

        return mark


def _env_bool(name, fallback):
    value = os.environ.get(name)
    if value is None or value == "":
        return fallback
    return value.strip().lower() in ("1", "t", "true", "y", "yes", "on")


def _push_env(fallback):
    """KANIKO_PUSH_IMAGE as repo2kaniko reads it: 1, t or true (any case, nothing
    around it) push; any other value does not; unset or empty: fallback."""
    value = os.environ.get("KANIKO_PUSH_IMAGE")
    if not value:
        return fallback
    return value.lower() in ("1", "t", "true")


def _env_json(name):
    value = os.environ.get(name)
    if not value:
        return {}
    obj = json.loads(value)
    if not isinstance(obj, dict):
        raise ValueError(f"{name} must be a JSON object")
    return obj


if _EngineBase is None:
    # repo2docker's ContainerEngine interface, as far as this engine needs it.
    if HAVE_TRAITLETS:
        from traitlets.config import LoggingConfigurable as _Configurable
    else:

        class _Configurable:
            def __init__(self, parent=None, **kwargs):
                self.parent = parent
                self.log = logging.getLogger("r2k_repo2docker")

    class _EngineBase(_Configurable):
        string_output = True

        registry_credentials = Dict(
            help="Registry credentials: registry, username, password (or auth).", config=True
        )

        @default("registry_credentials")
        def _registry_credentials_default(self):
            return _env_json("CONTAINER_ENGINE_REGISTRY_CREDENTIALS")

        def __init__(self, *, parent=None):
            super().__init__(parent=parent)


class R2kBuildError(_BuildErrorBase):
    """The build failed; returncode is r2k client's exit status (README "Exit status")."""

    def __init__(self, returncode, tail=""):
        self.returncode = returncode
        self.tail = tail
        msg = f"r2k build failed with exit status {returncode}"
        if tail:
            msg += ": " + tail
        super().__init__(msg)


_CRED_KEYS = ("registry", "username", "password", "auth", "insecure")


def _client_credentials(cred):
    """Keep the keys r2k understands; skopeo-style tls-verify=false means plain HTTP."""
    out = {k: v for k, v in cred.items() if k in _CRED_KEYS and v is not None}
    tls = cred.get("tls-verify", cred.get("tls_verify"))
    if tls is not None and str(tls).lower() in ("false", "0", "no"):
        out["insecure"] = True
    if "insecure" in out and not isinstance(out["insecure"], bool):
        out["insecure"] = str(out["insecure"]).lower() in ("1", "true", "yes")
    return out


def client_command(
    *,
    executable,
    address,
    context,
    tag="",
    dockerfile="",
    buildargs=None,
    labels=None,
    platform=None,
    push=True,
    cache_registry="",
    cache_registry_insecure=False,
    cache_dir="",
    registry_credentials=None,
    cache_registry_credentials=None,
    base_env=None,
):
    """The argv and environment of one `r2k client` run. Secrets go in the environment."""
    argv = [executable, "client", "--runner", address, "--context", context,
            "--progress=never"]
    if tag:
        argv += ["--destination", tag]
    if dockerfile:
        argv += ["--dockerfile", dockerfile]
    for k, v in (buildargs or {}).items():
        argv += ["--build-arg", f"{k}={v}"]
    for k, v in (labels or {}).items():
        argv += ["--label", f"{k}={v}"]
    if platform:
        argv += ["--platform", platform]
    if cache_registry:
        argv += ["--cache-registry", cache_registry]
        if cache_registry_insecure:
            argv.append("--cache-registry-insecure")
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    argv.append("--push" if push else "--no-push")

    env = dict(os.environ if base_env is None else base_env)
    for name, cred in (("CONTAINER_ENGINE_REGISTRY_CREDENTIALS", registry_credentials),
                       ("KANIKO_CACHE_REGISTRY_CREDENTIALS", cache_registry_credentials)):
        if cred:
            env[name] = json.dumps(_client_credentials(cred))
        else:
            env.pop(name, None)
    return argv, env


class R2kEngine(_EngineBase):
    """Build with r2k: the context is streamed to an r2k runner, which runs the builder."""

    string_output = True

    r2k_executable = Unicode(help="The r2k binary.", config=True)

    @default("r2k_executable")
    def _r2k_executable_default(self):
        return os.environ.get("R2K_EXECUTABLE") or shutil.which("r2k") or "r2k"

    kaniko_address = Unicode(
        help="Address of the r2k runner: tcp://HOST:PORT or unix:///path.", config=True
    )

    @default("kaniko_address")
    def _kaniko_address_default(self):
        return (os.environ.get("KANIKO_ADDRESS") or os.environ.get("R2K_RUNNER")
                or "tcp://127.0.0.1:9000")

    push_image = Bool(
        allow_none=True,
        help="Push the built image (as well as when repo2docker asks to, with its --push). "
             "Unset (None): push only when repo2docker asks to, or when it cannot say "
             "(older repo2docker).",
        config=True)

    @default("push_image")
    def _push_image_default(self):
        return _push_env(None)

    cache_registry = Unicode(
        help="Layer cache repository, e.g. 'localhost:5000/cache'.", config=True
    )

    @default("cache_registry")
    def _cache_registry_default(self):
        return os.environ.get("KANIKO_CACHE_REGISTRY", "")

    cache_registry_insecure = Bool(
        help="Reach the cache registry over plain HTTP.", config=True
    )

    @default("cache_registry_insecure")
    def _cache_registry_insecure_default(self):
        return _env_bool("KANIKO_CACHE_REGISTRY_INSECURE", False)

    cache_registry_credentials = Dict(
        help="Credentials for the cache registry (username, password or auth; registry).",
        config=True,
    )

    @default("cache_registry_credentials")
    def _cache_registry_credentials_default(self):
        return _env_json("KANIKO_CACHE_REGISTRY_CREDENTIALS")

    cache_dir = Unicode(help="Base-image cache directory on the runner.", config=True)

    @default("cache_dir")
    def _cache_dir_default(self):
        return os.environ.get("KANIKO_CACHE_DIR", "")

    # Tags pushed by build() in this process: repo2docker creates a new engine to push.
    _pushed = set()

    def __init__(self, *, parent=None):
        super().__init__(parent=parent)

    def build(
        self,
        *,
        push=None,
        load=None,
        buildargs=None,
        cache_from=None,
        container_limits=None,
        tag="",
        custom_context=False,
        dockerfile="",
        fileobj=None,
        path="",
        labels=None,
        platform=None,
        **kwargs,
    ):
        """Run `r2k client`; yield its output lines; raise R2kBuildError on failure.

        Accepts repo2docker's current signature (push, load) and the older one
        without them, and ignores Docker-only arguments (decode, rm, forcerm).
        """
        log = self.log
        if cache_from:
            log.info(f"r2k: ignoring cache_from={cache_from}")
        if container_limits:
            log.info("r2k: ignoring container_limits (the runner sets the builder's limits)")
        if load:
            log.info("r2k: load is not possible: images go to a registry, not a local store")
        if kwargs:
            log.debug(f"r2k: ignoring {sorted(kwargs)}")
        if fileobj is None and not path:
            raise ValueError("build needs fileobj (a tar stream) or path (a directory)")
        do_push = self._push_wanted(push)
        argv, env = client_command(
            executable=self.r2k_executable,
            address=self.kaniko_address,
            context="-" if fileobj is not None else path,
            tag=tag,
            dockerfile=dockerfile,
            buildargs=buildargs,
            labels=labels,
            platform=platform,
            push=do_push,
            cache_registry=self.cache_registry,
            cache_registry_insecure=self.cache_registry_insecure,
            cache_dir=self.cache_dir,
            registry_credentials=self.registry_credentials,
            cache_registry_credentials=self.cache_registry_credentials,
        )
        yield from self._run(argv, env, fileobj)
        if do_push and tag:
            R2kEngine._pushed.add(tag)

    def _run(self, argv, env, fileobj):
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if fileobj is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        feeder = None
        if fileobj is not None:
            feeder = threading.Thread(target=_feed, args=(fileobj, proc.stdin), daemon=True)
            feeder.start()
        tail = []
        try:
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                tail = (tail + [line.rstrip("\n")])[-3:]
                yield line
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                # The caller stopped early: SIGTERM makes the client cancel the build.
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
            if feeder is not None:
                feeder.join(timeout=30)
        if rc != 0:
            raise R2kBuildError(rc, " | ".join(t for t in tail if t))

    def images(self):
        return []

    def inspect_image(self, image):
        """There is no local image store to look into."""
        return None

    def _push_wanted(self, push):
        """Push when push_image or repo2docker (push=True) says so; with push_image unset,
        repo2docker decides, and an older repo2docker, which cannot say, gets a push."""
        if self.push_image is None:
            return True if push is None else bool(push)
        return bool(self.push_image or push)

    def push(self, image_spec, *, stream=True):
        """Images are pushed by build() (push_image); pushing later is not possible."""
        if image_spec not in R2kEngine._pushed and not self.push_image:
            raise R2kBuildError(2, f"{image_spec} was not pushed: set push_image")
        return iter([])

    def run(self, *args, **kwargs):
        raise NotImplementedError("the r2k engine builds images; it cannot run containers")


class KanikoEngine(R2kEngine):
    """R2kEngine under the name of repo2kaniko's engine (``--engine kaniko``): configuration
    written for repo2kaniko (``c.KanikoEngine.…``, ``--KanikoEngine.…``) applies to it,
    R2kEngine's too. Its default address is repo2kaniko's, tcp://localhost:8080. Settings
    that only meant something to repo2kaniko are accepted and not used."""

    @default("kaniko_address")
    def _kaniko_address_default(self):
        return (os.environ.get("KANIKO_ADDRESS") or os.environ.get("R2K_RUNNER")
                or "tcp://localhost:8080")

    push_image = Bool(
        help="Push the built image (repo2kaniko's default: KANIKO_PUSH_IMAGE is 1, t or "
             "true; else no push unless repo2docker asks to, with its --push).",
        config=True)

    @default("push_image")
    def _push_image_default(self):
        return bool(_push_env(False))

    def _push_wanted(self, push):
        return bool(self.push_image or push)

    kaniko_executable = Unicode(
        help="repo2kaniko: the Kaniko executable (not used: the runner has its own).",
        config=True)
    kaniko_build_path = Unicode(
        help="repo2kaniko: the directory shared with Kaniko (not used: the context is "
             "streamed).", config=True)
    login_executable = Unicode(help="repo2kaniko: the login tool (not used).", config=True)
    kaniko_loglevel = Unicode(help="repo2kaniko: Kaniko's log level (not used).", config=True)


def _feed(fileobj, pipe):
    """Copy the context tar into the client's stdin."""
    try:
        while True:
            chunk = fileobj.read(256 * 1024)
            if not chunk:
                break
            pipe.write(chunk)
    except (BrokenPipeError, ValueError, OSError):
        pass  # the client ended early; its exit status tells why
    finally:
        try:
            pipe.close()
        except OSError:
            pass
