"""What ``up`` must do, from the desired project and the containers that exist.

Pure functions, no I/O: ``observe`` reads container summaries (``GET /containers/json``)
into ``Observed``; ``plan_service`` compares one service's wanted replicas and config hash
with its containers, as Docker Compose's convergence does (recreate what changed, start
what stopped, remove the highest numbers when scaling down, number new ones into the
gaps); ``plan_orphans`` finds containers of services the project no longer has.
"""

from __future__ import annotations

from collections import namedtuple

from . import model

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

CREATE, RECREATE, START, REMOVE, KEEP = "create", "recreate", "start", "remove", "keep"


# collections.namedtuple rather than typing.NamedTuple: typing is not imported at run time.
class Observed(namedtuple("Observed", "id name service number config_hash state image_id oneoff",
                          defaults=("", False))):
    """One existing container of the project (``state`` is Docker's: created, running,
    paused, restarting, exited, dead)."""

    __slots__ = ()

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "restarting")


class Action(namedtuple("Action", "kind service number container", defaults=(None,))):
    """What to do to one replica (``container``: the existing one, if any)."""

    __slots__ = ()


def observe(summaries: list[dict[str, Any]]) -> list[Observed]:
    """Container summaries (``docker ps -a`` JSON) as ``Observed``, one-off ones included."""
    out = []
    for c in summaries:
        labels = c.get("Labels") or {}
        if labels.get(model.HOOK):
            continue  # a pre_start hook's container, not a replica
        try:
            number = int(labels.get(model.NUMBER, "0"))
        except ValueError:
            number = 0
        out.append(Observed(
            id=c["Id"], name=(c.get("Names") or ["/"])[0].lstrip("/"),
            service=labels.get(model.SERVICE, ""), number=number,
            config_hash=labels.get(model.CONFIG_HASH, ""), state=c.get("State", ""),
            image_id=c.get("ImageID", ""), oneoff=labels.get(model.ONEOFF) == "True"))
    return out


def plan_service(service: str, replicas: int, config_hash: str, observed: list[Observed], *,
                 image_id: str = "", force_recreate: bool = False,
                 no_recreate: bool = False) -> list[Action]:
    """The actions that bring ``service`` to ``replicas`` containers of ``config_hash``."""
    mine = sorted((o for o in observed if o.service == service and not o.oneoff),
                  key=lambda o: o.number)
    keep, extra = mine[:replicas], mine[replicas:]
    actions = [Action(REMOVE, service, o.number, o) for o in reversed(extra)]
    for o in keep:
        changed = o.config_hash != config_hash or bool(image_id and o.image_id
                                                        and o.image_id != image_id)
        if force_recreate or (changed and not no_recreate):
            actions.append(Action(RECREATE, service, o.number, o))
        elif not o.running:
            actions.append(Action(START, service, o.number, o))
        else:
            actions.append(Action(KEEP, service, o.number, o))
    used = {o.number for o in keep}
    number = 1
    for _ in range(replicas - len(keep)):
        while number in used:
            number += 1
        used.add(number)
        actions.append(Action(CREATE, service, number))
    return actions


def plan_orphans(services: set[str], observed: list[Observed]) -> list[Observed]:
    """Containers (not one-off) of services that are not in ``services``."""
    return [o for o in observed if not o.oneoff and o.service not in services]


def plan_resources(wanted: dict[str, dict[str, Any]], existing: set[str]
                   ) -> tuple[list[str], list[str]]:
    """(keys to create, external keys that are missing) for networks or volumes."""
    create, missing = [], []
    for key, spec in wanted.items():
        if spec["name"] in existing:
            continue
        (missing if spec.get("external") else create).append(key)
    return create, missing


def cascade(plans: dict[str, list[Action]], parents: dict[str, list[str]]) -> None:
    """Recreate the containers that share a namespace or volumes with a replaced one:
    their ``container:<id>`` reference would name a container that is gone. ``parents``
    maps a service to the services it refers to, in dependency order."""
    replaced = {name for name, actions in plans.items()
                if any(a.kind in (CREATE, RECREATE) for a in actions)}
    for name, actions in plans.items():
        if not replaced & set(parents.get(name, [])):
            continue
        plans[name] = [Action(RECREATE, a.service, a.number, a.container)
                       if a.kind in (KEEP, START) else a for a in actions]
        replaced.add(name)


def changed(actions: list[Action]) -> bool:
    return any(a.kind != KEEP for a in actions)
