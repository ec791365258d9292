"""Compose for minke: load a compose-spec project, plan, and converge it through the Docker API.

``loader`` turns files and environment into the canonical model (as ``docker compose
config`` prints it), ``model`` gives it names and graph helpers, ``planner`` decides what to
do from the containers that exist (pure functions), ``executor`` does it through
``minke.client``, and ``cli`` is ``minke compose``. This package never imports the engine:
like Docker Compose it talks to the daemon only through the API.
"""

from .errors import ComposeFileError, ComposeRunError

__all__ = ["ComposeFileError", "ComposeRunError"]
