"""Registry credentials as the docker CLI keeps them: ``~/.docker/config.json`` and the
``docker-credential-<helper>`` programs it names. Standard library only: the CLI (login,
logout, and the ``X-Registry-Auth`` header of pull and push) and tests use it.

The file format is docker's: ``{"auths": {"<server>": {"auth": base64("user:pass")}},
"credsStore": "<helper>", "credHelpers": {"<server>": "<helper>"}}``; keys this module
does not know are kept as they are. Docker Hub is stored under
``https://index.docker.io/v1/``, every other registry under its host name. A helper speaks
the credential-helper protocol: ``get``/``erase`` take the server on stdin, ``store`` takes
``{"ServerURL", "Username", "Secret"}``; ``get`` answers ``{"Username", "Secret"}``.

The ``X-Registry-Auth`` header is base64url of ``{"username", "password", "serveraddress",
"identitytoken"}``, as the docker CLI sends it and dockerd decodes it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from pathlib import Path

INDEX_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", INDEX_SERVER,
                "https://index.docker.io/v1", "https://registry-1.docker.io"}
TOKEN_USERNAME = "<token>"  # docker's marker: the secret is an identity (refresh) token


class CredentialError(Exception):
    """The config file or a credential helper failed; the message says which and why."""


def server_key(registry: str) -> str:
    """The key a registry's credentials live under: ``https://index.docker.io/v1/`` for
    Docker Hub, else the bare host[:port] (a scheme or path given by the user is dropped)."""
    if registry in _HUB_ALIASES or not registry:
        return INDEX_SERVER
    host = registry.split("://", 1)[-1].split("/", 1)[0]
    return INDEX_SERVER if host in _HUB_ALIASES else host


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


class CredentialStore:
    """The credentials of one ``config.json``; each call reads the file afresh, so that two
    processes (docker and minke) sharing it see each other's logins."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "config.json"

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CredentialError(f"loading config file {self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise CredentialError(f"loading config file {self.path}: not a JSON object")
        return data

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside and renamed: a crash never leaves a truncated config.json behind.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config.json.")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def _helper(self, data: dict, key: str) -> str | None:
        helpers = data.get("credHelpers") or {}
        return helpers.get(key) or data.get("credsStore") or None

    def get(self, registry: str) -> dict[str, str] | None:
        """``{"username", "password"}`` (or ``identitytoken``) for ``registry``, or None."""
        key = server_key(registry)
        data = self._load()
        helper = self._helper(data, key)
        if helper:
            out = _run_helper(helper, "get", key)
            if out is None:
                return None
            username, secret = out.get("Username", ""), out.get("Secret", "")
            if username == TOKEN_USERNAME:
                return {"identitytoken": secret, "serveraddress": key}
            return {"username": username, "password": secret, "serveraddress": key}
        entry = (data.get("auths") or {}).get(key)
        if not entry:
            return None
        out = {"serveraddress": key}
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise CredentialError(f"invalid auth entry for {key} in {self.path}") from None
            out.update(username=user, password=password)
        if entry.get("identitytoken"):
            out["identitytoken"] = entry["identitytoken"]
        return out

    def store(self, registry: str, username: str, password: str,
              identitytoken: str = "") -> None:
        key = server_key(registry)
        data = self._load()
        helper = self._helper(data, key)
        if helper:
            secret = identitytoken or password
            user = TOKEN_USERNAME if identitytoken else username
            _run_helper(helper, "store", json.dumps(
                {"ServerURL": key, "Username": user, "Secret": secret}))
            # docker keeps an empty entry so that `docker info`/logout know the server.
            data.setdefault("auths", {})[key] = {}
        else:
            entry: dict[str, str] = {}
            if identitytoken:
                entry["identitytoken"] = identitytoken
            else:
                entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
            data.setdefault("auths", {})[key] = entry
        self._save(data)

    def erase(self, registry: str) -> bool:
        """Forget ``registry``; False when nothing was stored for it."""
        key = server_key(registry)
        data = self._load()
        helper = self._helper(data, key)
        found = key in (data.get("auths") or {})
        if helper:
            found = _run_helper(helper, "erase", key) is not None or found
        if key in (data.get("auths") or {}):
            del data["auths"][key]
            self._save(data)
        return found


def _run_helper(helper: str, action: str, payload: str) -> dict | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, action], input=payload.encode(), capture_output=True,
                              timeout=30, check=False)
    except FileNotFoundError:
        raise CredentialError(
            f"error getting credentials - err: exec: \"{program}\": executable file not found "
            "in $PATH") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(f"{program} {action}: timed out") from None
    text = (done.stdout or done.stderr).decode(errors="replace").strip()
    if done.returncode != 0:
        if "credentials not found" in text.lower():
            return None
        raise CredentialError(f"{program} {action}: {text or f'exit status {done.returncode}'}")
    if action != "get":
        return {}
    try:
        out = json.loads(text)
    except ValueError:
        raise CredentialError(f"{program} get: invalid answer: {text[:200]}") from None
    return out if isinstance(out, dict) else None


def encode_auth_header(auth: dict[str, str]) -> str:
    """The ``X-Registry-Auth`` value for ``auth`` (``username``/``password``/...)."""
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


def decode_auth_header(value: str) -> dict[str, str]:
    """dockerd's reading of ``X-Registry-Auth``: base64url JSON, padding optional; an
    empty or unreadable header means no credentials, as dockerd treats it."""
    if not value:
        return {}
    raw = value.strip()
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k.lower(): str(v) for k, v in data.items() if isinstance(v, str) and v}
