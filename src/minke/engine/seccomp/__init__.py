"""Seccomp: minke's default profile (``profile``) and its compilation for one container
(``compile``). Knows nothing of containers beyond their capability set."""

from minke.engine.seccomp.compile import compile_profile, host_arch, load_profile
from minke.engine.seccomp.profile import DEFAULT_PROFILE, Arg, Profile, Rule

__all__ = ["DEFAULT_PROFILE", "Arg", "Profile", "Rule", "compile_profile", "host_arch",
           "load_profile"]
