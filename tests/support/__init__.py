"""Real-process test infrastructure: token issuer, fault proxy, Redis, pytest fixtures."""
