"""The registry HTTP API v2 client (Docker / OCI distribution spec)."""

from .errors import (
    AccessDenied,
    AuthenticationFailed,
    DeleteDisabled,
    InvalidResponse,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryUnreachable,
    ServerError,
    UnexpectedStatus,
    UnsupportedMediaType,
)
from .manifests import Descriptor, ImageConfig, ManifestDocument, ManifestHead
from .registry_client import RegistryClient

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "DeleteDisabled",
    "Descriptor",
    "ImageConfig",
    "InvalidResponse",
    "ManifestDocument",
    "ManifestHead",
    "NotFound",
    "RateLimited",
    "RegistryClient",
    "RegistryError",
    "RegistryUnreachable",
    "ServerError",
    "UnexpectedStatus",
    "UnsupportedMediaType",
]
