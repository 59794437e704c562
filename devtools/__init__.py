"""The demo and test kit: a local registry, an image builder, the demo seed, `manage.py demo`.

Not shipped in the app: the production image leaves this package out, and settings add
the `devtools` app (its management commands) only where the package can be imported.
"""
