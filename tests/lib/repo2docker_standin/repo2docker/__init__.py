"""A stand-in for repo2docker in r2k's tests: only the engine interface (repo2docker.engine)."""
