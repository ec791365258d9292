"""The planner and the model's labels and hash: pure functions."""

from __future__ import annotations

from minke.compose import model, planner
from minke.compose.model import Project


def observed(service: str, number: int, config_hash: str, state: str = "running"
             ) -> planner.Observed:
    return planner.Observed(id=f"{service}{number}" * 8, name=f"p-{service}-{number}",
                            service=service, number=number, config_hash=config_hash,
                            state=state)


def kinds(actions: list[planner.Action]) -> list[tuple[str, int]]:
    return [(a.kind, a.number) for a in actions]


def test_create_keep_recreate_start() -> None:
    assert kinds(planner.plan_service("web", 2, "h", [])) == [("create", 1), ("create", 2)]
    obs = [observed("web", 1, "h"), observed("web", 2, "old"), observed("db", 1, "x")]
    assert kinds(planner.plan_service("web", 2, "h", obs)) == [("keep", 1), ("recreate", 2)]
    assert kinds(planner.plan_service("web", 2, "h", obs, no_recreate=True)) == [
        ("keep", 1), ("keep", 2)]
    assert kinds(planner.plan_service("web", 1, "h", obs, force_recreate=True)) == [
        ("remove", 2), ("recreate", 1)]
    stopped = [observed("web", 1, "h", "exited")]
    assert kinds(planner.plan_service("web", 1, "h", stopped)) == [("start", 1)]


def test_scale_down_removes_highest_and_up_fills_gaps() -> None:
    obs = [observed("web", n, "h") for n in (1, 2, 3)]
    assert kinds(planner.plan_service("web", 1, "h", obs)) == [
        ("remove", 3), ("remove", 2), ("keep", 1)]
    obs = [observed("web", n, "h") for n in (1, 3)]
    assert kinds(planner.plan_service("web", 3, "h", obs)) == [
        ("keep", 1), ("keep", 3), ("create", 2)]


def test_image_change_recreates() -> None:
    obs = [planner.Observed("i" * 64, "p-web-1", "web", 1, "h", "running", image_id="sha:1")]
    assert kinds(planner.plan_service("web", 1, "h", obs, image_id="sha:2")) == [
        ("recreate", 1)]


def test_orphans_and_resources() -> None:
    obs = [observed("web", 1, "h"), observed("gone", 1, "h")]
    assert [o.service for o in planner.plan_orphans({"web"}, obs)] == ["gone"]
    wanted = {"a": {"name": "p_a"}, "b": {"name": "b", "external": True},
              "c": {"name": "p_c"}}
    assert planner.plan_resources(wanted, {"p_c"}) == (["a"], ["b"])


def test_observe_reads_compose_labels() -> None:
    summary = {"Id": "x" * 64, "Names": ["/p-web-2"], "State": "exited", "ImageID": "sha:1",
               "Labels": {model.SERVICE: "web", model.NUMBER: "2", model.CONFIG_HASH: "h",
                          model.ONEOFF: "False"}}
    assert planner.observe([summary]) == [planner.Observed(
        "x" * 64, "p-web-2", "web", 2, "h", "exited", "sha:1", False)]


def test_hash_ignores_scale_and_labels_like_compose() -> None:
    base = {"image": "x", "environment": {"A": "1"}, "depends_on": {}}
    project = Project("p", {"services": {"web": dict(base, scale=3),
                                         "db": {"image": "y"}}}, working_dir="/w",
                      config_files=["/w/compose.yaml"])
    assert project.config_hash("web") == model.service_hash(base)
    assert model.service_hash(base) != model.service_hash(dict(base, environment={"A": "2"}))
    labels = project.labels("web", 2)
    assert labels[model.PROJECT] == "p" and labels[model.NUMBER] == "2"
    assert labels[model.ONEOFF] == "False" and labels[model.WORKING_DIR] == "/w"
    assert project.container_name("web", 2) == "p-web-2"
    assert project.replicas("web") == 3 and project.replicas("db") == 1


def test_dependency_order() -> None:
    services = {"web": {"depends_on": {"api": {}}}, "api": {"depends_on": {"db": {}}},
                "db": {}, "other": {}}
    project = Project("p", {"services": services})
    order = project.order()
    assert order.index("db") < order.index("api") < order.index("web")
    assert project.with_dependencies(["api"]) == ["db", "api"]


def test_sharing_a_replaced_container_recreates_the_sharer() -> None:
    obs = [observed("net", 1, "new"), observed("app", 1, "h"), observed("side", 1, "h"),
           observed("other", 1, "h", "exited")]
    plans = {name: planner.plan_service(name, 1, "h" if name != "net" else "changed", obs)
             for name in ("net", "app", "side", "other")}
    planner.cascade(plans, {"app": ["net"], "side": ["app"], "other": []})
    assert {n: kinds(a) for n, a in plans.items()} == {
        "net": [("recreate", 1)], "app": [("recreate", 1)], "side": [("recreate", 1)],
        "other": [("start", 1)]}
    unchanged = {"net": planner.plan_service("net", 1, "new", obs),
                 "app": planner.plan_service("app", 1, "h", obs)}
    planner.cascade(unchanged, {"app": ["net"]})
    assert kinds(unchanged["app"]) == [("keep", 1)]


def test_hook_containers_are_not_replicas() -> None:
    summaries = [{"Id": "a" * 64, "Names": ["/p-web-1"], "State": "running",
                  "Labels": {model.SERVICE: "web", model.NUMBER: "1"}},
                 {"Id": "b" * 64, "Names": ["/hook"], "State": "exited",
                  "Labels": {model.SERVICE: "web", model.HOOK: "pre_start"}}]
    assert [o.name for o in planner.observe(summaries)] == ["p-web-1"]


def test_depths_group_services_that_can_stop_together() -> None:
    project = Project("p", {"services": {
        "web": {"depends_on": {"api": {}, "cache": {}}}, "api": {"depends_on": {"db": {}}},
        "db": {}, "cache": {}, "worker": {"depends_on": {"db": {}}}}})
    assert project.depths() == {"db": 0, "cache": 0, "api": 1, "worker": 1, "web": 2}
