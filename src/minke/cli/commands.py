"""The table of verbs: which module implements each, its one-line summary, and the
management forms (``minke container ls`` → ``ps``). Importing this module imports no verb,
so ``minke --help`` and dispatch stay cheap."""

from __future__ import annotations


class Verb:
    # A plain class: dataclasses and typing.NamedTuple cost milliseconds of start-up.
    __slots__ = ("module", "summary", "usage", "common")

    def __init__(self, module: str, summary: str, usage: str, common: bool = False) -> None:
        self.module = module  # under minke.cli.verbs; has configure_<name>(), do_<name>()
        self.summary = summary
        self.usage = usage
        self.common = common


VERBS: dict[str, Verb] = {
    "run": Verb("run", "Create and run a new container from an image",
                "[OPTIONS] IMAGE [COMMAND] [ARG...]", common=True),
    "exec": Verb("execute", "Execute a command in a running container",
                 "[OPTIONS] CONTAINER COMMAND [ARG...]", common=True),
    "ps": Verb("ps", "List containers", "[OPTIONS]", common=True),
    "images": Verb("images", "List images", "[OPTIONS] [REPOSITORY[:TAG]]", common=True),
    "version": Verb("system", "Show the minke version information", "[OPTIONS]", common=True),
    "info": Verb("system", "Display system-wide information", "[OPTIONS]", common=True),
    "attach": Verb("attach", "Attach local standard input, output, and error streams to a "
                   "running container", "[OPTIONS] CONTAINER"),
    "create": Verb("run", "Create a new container", "[OPTIONS] IMAGE [COMMAND] [ARG...]"),
    "events": Verb("system", "Get real time events from the server", "[OPTIONS]"),
    "history": Verb("images", "Show the history of an image", "[OPTIONS] IMAGE"),
    "import": Verb("archive", "Import the contents from a tarball to create a filesystem image",
                   "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]"),
    "inspect": Verb("inspect", "Return low-level information on minke objects",
                    "[OPTIONS] NAME|ID [NAME|ID...]"),
    "kill": Verb("containers", "Kill one or more running containers",
                 "[OPTIONS] CONTAINER [CONTAINER...]"),
    "load": Verb("archive", "Load an image from a tar archive or STDIN", "[OPTIONS]"),
    "logs": Verb("logs", "Fetch the logs of a container", "[OPTIONS] CONTAINER"),
    "rename": Verb("containers", "Rename a container", "CONTAINER NEW_NAME"),
    "restart": Verb("containers", "Restart one or more containers",
                    "[OPTIONS] CONTAINER [CONTAINER...]"),
    "rm": Verb("containers", "Remove one or more containers",
               "[OPTIONS] CONTAINER [CONTAINER...]"),
    "rmi": Verb("images", "Remove one or more images", "[OPTIONS] IMAGE [IMAGE...]"),
    "save": Verb("archive", "Save one or more images to a tar archive (streamed to STDOUT by "
                 "default)", "[OPTIONS] IMAGE [IMAGE...]"),
    "start": Verb("run", "Start one or more stopped containers",
                  "[OPTIONS] CONTAINER [CONTAINER...]"),
    "stop": Verb("containers", "Stop one or more running containers",
                 "[OPTIONS] CONTAINER [CONTAINER...]"),
    "tag": Verb("images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
    "top": Verb("containers", "Display the running processes of a container",
                "CONTAINER [ps OPTIONS]"),
    "wait": Verb("containers", "Block until one or more containers stop, then print their "
                 "exit codes", "CONTAINER [CONTAINER...]"),
}

# Management commands: sub-verb → (verb, defaults the sub-verb implies).
GROUPS: dict[str, tuple[str, dict[str, tuple[str, dict[str, str]]]]] = {
    "container": ("Manage containers", {
        **{name: (name, {}) for name in (
            "attach", "create", "exec", "kill", "logs", "rename", "restart", "rm", "run",
            "start", "stop", "top", "wait")},
        "ls": ("ps", {}), "list": ("ps", {}), "ps": ("ps", {}), "remove": ("rm", {}),
        "inspect": ("inspect", {"type": "container"}),
    }),
    "image": ("Manage images", {
        **{name: (name, {}) for name in ("history", "import", "load", "save", "tag")},
        "ls": ("images", {}), "list": ("images", {}), "rm": ("rmi", {}),
        "remove": ("rmi", {}), "inspect": ("inspect", {"type": "image"}),
    }),
    "system": ("Manage minke", {
        "events": ("events", {}), "info": ("info", {}),
    }),
}


def main_help() -> str:
    """The text of ``minke --help``, laid out as docker's."""
    def rows(names: list[str], summary: dict[str, str]) -> str:
        return "".join(f"  {name:<11} {summary[name]}\n" for name in names)

    verbs = {name: verb.summary for name, verb in VERBS.items()}
    common = [name for name, verb in VERBS.items() if verb.common]
    other = sorted(name for name, verb in VERBS.items() if not verb.common)
    groups = {name: group[0] for name, group in GROUPS.items()}
    return (
        "\nUsage:  minke [OPTIONS] COMMAND\n\n"
        "A self-sufficient runtime for containers\n\n"
        f"Common Commands:\n{rows(common, verbs)}\n"
        f"Management Commands:\n{rows(sorted(groups), groups)}\n"
        f"Commands:\n{rows(other, verbs)}\n"
        "Global Options:\n"
        "  -H, --host string   Daemon socket to connect to\n"
        "  -v, --version       Print version information and quit\n\n"
        "Run 'minke COMMAND --help' for more information on a command.\n"
    )


def group_help(group: str) -> str:
    summary, subs = GROUPS[group]
    lines = "".join(f"  {name:<11} {VERBS[verb].summary}\n"
                    for name, (verb, _) in sorted(subs.items()))
    return (f"\nUsage:  minke {group} COMMAND\n\n{summary}\n\nCommands:\n{lines}\n"
            f"Run 'minke {group} COMMAND --help' for more information on a command.\n")
