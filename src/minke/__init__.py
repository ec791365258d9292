"""minke: a container platform. OCI containers on runc behind the Docker Engine API."""

__version__ = "0.1.0"
