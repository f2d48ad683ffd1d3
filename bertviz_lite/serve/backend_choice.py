"""Choose the job backend by name (`backend` setting): "local" or "ray" (imported only then)."""

from __future__ import annotations

from bertviz_lite.serve.backend import (
    BACKENDS,
    BackendError,
    LocalBackend,
    RayOptions,
    WorkerBackend,
)


def make_backend(name: str, ray: RayOptions | None = None) -> WorkerBackend:
    """The backend called `name` ("local" or "ray")."""
    if name == "local":
        return LocalBackend()
    if name == "ray":
        try:
            from bertviz_lite.serve.ray_backend import RayBackend
        except ImportError as err:
            raise BackendError("backend = 'ray' needs Ray: pip install 'bertviz-lite[ray]' "
                               f"({err})") from None
        return RayBackend(ray or RayOptions())
    raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
