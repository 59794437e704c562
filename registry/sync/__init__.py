"""Syncing the cache with a registry: `run` drives it, `reading` asks the registry,
`writing` stores the answers. Start a sync with `sync_registry`."""

from .run import sync_registry

__all__ = ["sync_registry"]
