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
    "pull": Verb("registry", "Download an image from a registry", "[OPTIONS] NAME[:TAG|@DIGEST]",
                 common=True),
    "push": Verb("registry", "Upload an image to a registry", "[OPTIONS] NAME[:TAG]",
                 common=True),
    "version": Verb("system", "Show the minke version information", "[OPTIONS]", common=True),
    "info": Verb("system", "Display system-wide information", "[OPTIONS]", common=True),
    "compose": Verb("compose", "Define and run multi-container applications",
                    "[OPTIONS] COMMAND"),
    "build": Verb("build", "Build an image from a Dockerfile", "[OPTIONS] PATH | URL | -",
                  common=True),
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
    "login": Verb("registry", "Log in to a registry", "[OPTIONS] [SERVER]"),
    "logout": Verb("registry", "Log out from a registry", "[SERVER]"),
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
    "stats": Verb("stats", "Display a live stream of container(s) resource usage statistics",
                  "[OPTIONS] [CONTAINER...]"),
    "stop": Verb("containers", "Stop one or more running containers",
                 "[OPTIONS] CONTAINER [CONTAINER...]"),
    "tag": Verb("images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
    "top": Verb("containers", "Display the running processes of a container",
                "CONTAINER [ps OPTIONS]"),
    "update": Verb("stats", "Update configuration of one or more containers",
                   "[OPTIONS] CONTAINER [CONTAINER...]"),
    "wait": Verb("containers", "Block until one or more containers stop, then print their "
                 "exit codes", "CONTAINER [CONTAINER...]"),
    # Verbs only reachable through their group (``minke volume create``) are named
    # "<group>-<verb>" and left out of the top-level help.
    "volume-create": Verb("volume", "Create a volume", "[OPTIONS] [VOLUME]"),
    "volume-ls": Verb("volume", "List volumes", "[OPTIONS]"),
    "volume-inspect": Verb("volume", "Display detailed information on one or more volumes",
                           "[OPTIONS] VOLUME [VOLUME...]"),
    "volume-rm": Verb("volume", "Remove one or more volumes", "[OPTIONS] VOLUME [VOLUME...]"),
    "volume-prune": Verb("volume", "Remove all unused local volumes", "[OPTIONS]"),
    "commit": Verb("files", "Create a new image from a container's changes",
                   "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]"),
    "cp": Verb("files", "Copy files/folders between a container and the local filesystem",
               "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tminke cp [OPTIONS] SRC_PATH|- "
               "CONTAINER:DEST_PATH"),
    "diff": Verb("files", "Inspect changes to files or directories on a container's "
                 "filesystem", "CONTAINER"),
    "export": Verb("files", "Export a container's filesystem as a tar archive", "[OPTIONS] "
                   "CONTAINER"),
    "pause": Verb("upkeep", "Pause all processes within one or more containers",
                  "CONTAINER [CONTAINER...]"),
    "unpause": Verb("upkeep", "Unpause all processes within one or more containers",
                    "CONTAINER [CONTAINER...]"),
    "system-df": Verb("upkeep", "Show minke disk usage", "[OPTIONS]"),
    "container-prune": Verb("upkeep", "Remove all stopped containers", "[OPTIONS]"),
    "image-prune": Verb("upkeep", "Remove unused images", "[OPTIONS]"),
    "port": Verb("network", "List port mappings or a specific mapping for the container",
                 "CONTAINER [PRIVATE_PORT[/PROTO]]"),
    "network-create": Verb("network", "Create a network", "[OPTIONS] NETWORK"),
    "network-ls": Verb("network", "List networks", "[OPTIONS]"),
    "network-inspect": Verb("network", "Display detailed information on one or more "
                            "networks", "[OPTIONS] NETWORK [NETWORK...]"),
    "network-connect": Verb("network", "Connect a container to a network",
                            "[OPTIONS] NETWORK CONTAINER"),
    "network-disconnect": Verb("network", "Disconnect a container from a network",
                               "[OPTIONS] NETWORK CONTAINER"),
    "network-rm": Verb("network", "Remove one or more networks", "NETWORK [NETWORK...]"),
    "network-prune": Verb("network", "Remove all unused networks", "[OPTIONS]"),
    "swarm-init": Verb("swarm", "Initialize a swarm", "[OPTIONS]"),
    "swarm-leave": Verb("swarm", "Leave the swarm", "[OPTIONS]"),
    "swarm-update": Verb("swarm", "Update the swarm", "[OPTIONS]"),
    "swarm-join-token": Verb("swarm", "Manage join tokens", "[OPTIONS] (worker|manager)"),
    "swarm-unlock-key": Verb("swarm", "Manage the unlock key", "[OPTIONS]"),
    "swarm-unlock": Verb("swarm", "Unlock swarm", ""),
    "swarm-inspect": Verb("swarm", "Display detailed information on the swarm", "[OPTIONS]"),
    "swarm-migrate-store": Verb("swarm", "Move the swarm's state from SQLite to etcd, "
                                "services running", "[OPTIONS] --to etcd://HOST:PORT,..."),
    "secret-create": Verb("secret", "Create a secret from a file or STDIN as content",
                          "[OPTIONS] SECRET [file|-]"),
    "secret-ls": Verb("secret", "List secrets", "[OPTIONS]"),
    "secret-inspect": Verb("secret", "Display detailed information on one or more secrets",
                           "[OPTIONS] SECRET [SECRET...]"),
    "secret-rm": Verb("secret", "Remove one or more secrets",
                      "SECRET [SECRET...]"),
    "config-create": Verb("config", "Create a config from a file or STDIN as content",
                          "[OPTIONS] CONFIG [file|-]"),
    "config-ls": Verb("config", "List configs", "[OPTIONS]"),
    "config-inspect": Verb("config", "Display detailed information on one or more configs",
                           "[OPTIONS] CONFIG [CONFIG...]"),
    "config-rm": Verb("config", "Remove one or more configs",
                      "CONFIG [CONFIG...]"),
    "service-create": Verb("service", "Create a new service",
                           "[OPTIONS] IMAGE [COMMAND] [ARG...]"),
    "service-ls": Verb("service", "List services", "[OPTIONS]"),
    "service-ps": Verb("service", "List the tasks of one or more services",
                       "[OPTIONS] SERVICE [SERVICE...]"),
    "service-inspect": Verb("service", "Display detailed information on one or more services",
                            "[OPTIONS] SERVICE [SERVICE...]"),
    "service-update": Verb("service", "Update a service", "[OPTIONS] SERVICE"),
    "service-rollback": Verb("service", "Revert changes to a service's configuration",
                             "[OPTIONS] SERVICE"),
    "service-scale": Verb("service", "Scale one or multiple replicated services",
                          "SERVICE=REPLICAS [SERVICE=REPLICAS...]"),
    "service-rm": Verb("service", "Remove one or more services", "SERVICE [SERVICE...]"),
    "service-logs": Verb("service", "Fetch the logs of a service or task",
                         "[OPTIONS] SERVICE|TASK"),
    "service-lb": Verb("service", "Show a service's load balancing on this node (weights, "
                       "connections, CPU, bytes/s, circuit breaker state)", "[OPTIONS] SERVICE"),
    "job-run": Verb("job", "Run a batch job on the swarm and wait for its exit status",
                    "[OPTIONS] IMAGE [COMMAND] [ARG...]"),
    "stack-deploy": Verb("stack", "Deploy a new stack or update an existing stack",
                         "[OPTIONS] STACK"),
    "stack-ls": Verb("stack", "List stacks", "[OPTIONS]"),
    "stack-ps": Verb("stack", "List the tasks in the stack", "[OPTIONS] STACK"),
    "stack-services": Verb("stack", "List the services in the stack", "[OPTIONS] STACK"),
    "stack-rm": Verb("stack", "Remove one or more stacks", "STACK [STACK...]"),
    "node-ls": Verb("node", "List nodes in the swarm", "[OPTIONS]"),
    "node-inspect": Verb("node", "Display detailed information on one or more nodes",
                         "[OPTIONS] self|NODE [NODE...]"),
    "node-update": Verb("node", "Update a node", "[OPTIONS] NODE"),
    "node-rm": Verb("node", "Remove one or more nodes from the swarm",
                    "[OPTIONS] NODE [NODE...]"),
    "node-promote": Verb("node", "Promote one or more nodes to manager in the swarm",
                         "NODE [NODE...]"),
    "node-demote": Verb("node", "Demote one or more nodes from manager in the swarm",
                        "NODE [NODE...]"),
}

# Management commands: sub-verb → (verb, defaults the sub-verb implies).
GROUPS: dict[str, tuple[str, dict[str, tuple[str, dict[str, str]]]]] = {
    "container": ("Manage containers", {
        **{name: (name, {}) for name in (
            "attach", "create", "exec", "kill", "logs", "rename", "restart", "rm", "run",
            "start", "stop", "top", "wait", "commit", "cp", "diff", "export", "pause",
            "unpause", "port")},
        "prune": ("container-prune", {}), "stats": ("stats", {}), "update": ("update", {}),
        "ls": ("ps", {}), "list": ("ps", {}), "ps": ("ps", {}), "remove": ("rm", {}),
        "inspect": ("inspect", {"type": "container"}),
    }),
    "image": ("Manage images", {
        **{name: (name, {}) for name in ("build", "history", "import", "load", "save",
                                         "tag")},
        "pull": ("pull", {}), "push": ("push", {}), "prune": ("image-prune", {}),
        "ls": ("images", {}), "list": ("images", {}), "rm": ("rmi", {}),
        "remove": ("rmi", {}), "inspect": ("inspect", {"type": "image"}),
    }),
    "volume": ("Manage volumes", {
        "create": ("volume-create", {}), "ls": ("volume-ls", {}), "list": ("volume-ls", {}),
        "inspect": ("volume-inspect", {}), "rm": ("volume-rm", {}),
        "remove": ("volume-rm", {}), "prune": ("volume-prune", {}),
    }),
    "network": ("Manage networks", {
        **{name: (f"network-{name}", {}) for name in (
            "create", "ls", "inspect", "connect", "disconnect", "rm", "prune")},
        "list": ("network-ls", {}), "remove": ("network-rm", {}),
    }),
    "swarm": ("Manage Swarm", {
        **{name: (f"swarm-{name}", {}) for name in (
            "init", "leave", "update", "join-token", "unlock-key", "unlock", "inspect",
            "migrate-store")},
    }),
    "service": ("Manage Swarm services", {
        **{name: (f"service-{name}", {}) for name in (
            "create", "ls", "ps", "inspect", "update", "rollback", "scale", "rm", "logs",
            "lb")},
        "list": ("service-ls", {}), "remove": ("service-rm", {}),
    }),
    "job": ("Run batch jobs on the swarm", {"run": ("job-run", {})}),
    "stack": ("Manage Swarm stacks", {
        **{name: (f"stack-{name}", {}) for name in ("deploy", "ls", "ps", "services", "rm")},
        "list": ("stack-ls", {}), "remove": ("stack-rm", {}), "up": ("stack-deploy", {}),
        "down": ("stack-rm", {}),
    }),
    "node": ("Manage Swarm nodes", {
        **{name: (f"node-{name}", {}) for name in (
            "ls", "inspect", "update", "rm", "promote", "demote")},
        "list": ("node-ls", {}), "remove": ("node-rm", {}),
    }),
    "secret": ("Manage Swarm secrets", {
        **{name: (f"secret-{name}", {}) for name in ("create", "ls", "inspect", "rm")},
        "list": ("secret-ls", {}), "remove": ("secret-rm", {}),
    }),
    "config": ("Manage Swarm configs", {
        **{name: (f"config-{name}", {}) for name in ("create", "ls", "inspect", "rm")},
        "list": ("config-ls", {}), "remove": ("config-rm", {}),
    }),
    "system": ("Manage minke", {
        "events": ("events", {}), "info": ("info", {}), "df": ("system-df", {}),
    }),
}


def main_help() -> str:
    """The text of ``minke --help``, laid out as docker's."""
    def rows(names: list[str], summary: dict[str, str]) -> str:
        return "".join(f"  {name:<11} {summary[name]}\n" for name in names)

    verbs = {name: verb.summary for name, verb in VERBS.items()}
    common = [name for name, verb in VERBS.items() if verb.common]
    other = sorted(name for name, verb in VERBS.items() if not verb.common and "-" not in name)
    groups = {name: group[0] for name, group in GROUPS.items()}
    return (
        "\nUsage:  minke [OPTIONS] COMMAND\n\n"
        "A self-sufficient runtime for containers\n\n"
        f"Common Commands:\n{rows(common, verbs)}\n"
        f"Management Commands:\n{rows(sorted(groups), groups)}\n"
        f"Commands:\n{rows(other, verbs)}\n"
        "Global Options:\n"
        "  -H, --host string        Daemon socket to connect to\n"
        "      --tls                Use TLS; implied by --tlsverify\n"
        "      --tlscacert string   Trust certs signed only by this CA "
        "(default \"~/.docker/ca.pem\")\n"
        "      --tlscert string     Path to TLS certificate file "
        "(default \"~/.docker/cert.pem\")\n"
        "      --tlskey string      Path to TLS key file (default \"~/.docker/key.pem\")\n"
        "      --tlsverify          Use TLS and verify the remote\n"
        "  -v, --version            Print version information and quit\n\n"
        "Run 'minke COMMAND --help' for more information on a command.\n"
    )


def group_help(group: str) -> str:
    summary, subs = GROUPS[group]
    lines = "".join(f"  {name:<11} {VERBS[verb].summary}\n"
                    for name, (verb, _) in sorted(subs.items()))
    return (f"\nUsage:  minke {group} COMMAND\n\n{summary}\n\nCommands:\n{lines}\n"
            f"Run 'minke {group} COMMAND --help' for more information on a command.\n")
