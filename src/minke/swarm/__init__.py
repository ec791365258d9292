"""Swarm mode: the cluster store, the root CA and keys, the manager's control API, and the
daemon-side lifecycle of a node in a swarm (init, leave, lock and unlock).

See ``docs/swarm.md`` for what works and ``../shared/design/SWARM.md`` for the design.
Dependencies point one way: ``cluster`` (the daemon's view) → ``manager`` → ``store``;
``ca`` is used by ``cluster`` and ``manager`` and imports neither.
"""
