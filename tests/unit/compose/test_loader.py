"""The loader end to end on files in a temporary directory: YAML 1.2, interpolation, schema
errors with file and line, merge rules, extends, include, profiles, normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minke.compose.errors import ComposeFileError
from minke.compose.loader import ProjectOptions, dump, load, normalize_name


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_dir(directory: Path, **kwargs: object) -> dict:
    kwargs.setdefault("environ", {})
    return load(ProjectOptions(cwd=str(directory), **kwargs)).model  # type: ignore[arg-type]


def test_yaml_1_2_keeps_strings(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml",
          "services:\n  a:\n    image: x\n    labels: {t: yes, p: 22:22}\n")
    svc = load_dir(tmp_path)["services"]["a"]
    assert svc["labels"] == {"t": "yes", "p": "22:22"}


def test_project_name_from_directory_and_flags(tmp_path: Path) -> None:
    d = tmp_path / "My.App_1"
    write(d / "compose.yaml", "services: {a: {image: x}}\n")
    assert load(ProjectOptions(cwd=str(d), environ={})).name == "myapp_1"
    assert load(ProjectOptions(cwd=str(d), environ={"COMPOSE_PROJECT_NAME": "env"})).name \
        == "env"
    assert load(ProjectOptions(cwd=str(d), project_name="flag",
                               environ={"COMPOSE_PROJECT_NAME": "env"})).name == "flag"
    assert normalize_name("Hello World!") == "helloworld"
    with pytest.raises(ComposeFileError, match="invalid project name"):
        load(ProjectOptions(cwd=str(d), project_name="Bad Name", environ={}))


def test_env_file_and_interpolation(tmp_path: Path) -> None:
    write(tmp_path / ".env", "TAG=1.2\nPORT=8080\n")
    write(tmp_path / "compose.yaml",
          'services:\n  a:\n    image: "x:${TAG}"\n    ports: ["${PORT}:80"]\n'
          '    environment: [HOME, "D=$$x", "E=${UNSET:-dflt}"]\n')
    model = load_dir(tmp_path, environ={"HOME": "/h", "TAG": "2.0"})
    svc = model["services"]["a"]
    assert svc["image"] == "x:2.0"  # the process environment wins over .env
    assert svc["ports"] == [{"mode": "ingress", "target": 80, "published": "8080",
                             "protocol": "tcp"}]
    assert svc["environment"] == {"HOME": "/h", "D": "$x", "E": "dflt"}


def test_required_variable_names_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path / "compose.yaml", "services:\n  a:\n    image: ${X:?need X}\n")
    with pytest.raises(ComposeFileError) as info:
        load_dir(tmp_path)
    assert str(info.value).startswith(f"{f}:3: ")
    assert "required variable X is missing a value: need X" in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    f = write(tmp_path / "compose.yaml", "services:\n  a:\n    image: [x\n  b: {}\n")
    with pytest.raises(ComposeFileError) as info:
        load_dir(tmp_path)
    assert str(info.value).startswith(f"{f}:")
    assert "yaml:" in str(info.value)


def test_schema_violation_names_file_line_and_path(tmp_path: Path) -> None:
    f = write(tmp_path / "compose.yaml",
              "services:\n  a:\n    image: x\n    ports:\n      - {target: 80, bogus: 1}\n")
    with pytest.raises(ComposeFileError) as info:
        load_dir(tmp_path)
    assert str(info.value).startswith(f"{f}:5: ")
    assert "services.a.ports.0" in str(info.value)


def test_unknown_dependency_and_cycle(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml",
          "services:\n  a:\n    image: x\n    depends_on: [nope]\n")
    with pytest.raises(ComposeFileError, match='depends on undefined service "nope"'):
        load_dir(tmp_path)
    write(tmp_path / "compose.yaml", "services:\n  a: {image: x, depends_on: [b]}\n"
          "  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n")
    with pytest.raises(ComposeFileError, match="dependency cycle detected: a -> b -> c -> a"):
        load_dir(tmp_path)


def test_merge_rules_reset_and_override(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", """
services:
  a:
    image: x
    command: [one, two]
    environment: {A: "1", B: "2"}
    ports: ["80:80", "81:81"]
    volumes: ["./d:/data", "v:/v"]
    cap_add: [NET_ADMIN]
    labels: {keep: "1"}
    dns: [1.1.1.1]
volumes: {v: {}}
""")
    write(tmp_path / "override.yaml", """
services:
  a:
    command: three
    environment: {B: "3", C: "4"}
    ports: ["80:80", "82:82"]
    volumes: ["./e:/data"]
    cap_add: [SYS_ADMIN, NET_ADMIN]
    labels: !override {only: "1"}
    dns: !reset []
""")
    model = load_dir(tmp_path, files=["compose.yaml", "override.yaml"])
    svc = model["services"]["a"]
    assert svc["command"] == ["three"]
    assert svc["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert [p["published"] for p in svc["ports"]] == ["80", "81", "82"]
    assert {v["target"]: v.get("source") for v in svc["volumes"]} == {
        "/data": str(tmp_path / "e"), "/v": "v"}
    assert svc["cap_add"] == ["NET_ADMIN", "SYS_ADMIN"]
    assert svc["labels"] == {"only": "1"}
    assert "dns" not in svc


def test_extends_include_and_profiles(tmp_path: Path) -> None:
    write(tmp_path / "base" / "common.yaml",
          "services:\n  tmpl:\n    image: x\n    volumes: [./data:/d]\n    environment: [A=1]\n")
    write(tmp_path / "lib" / "compose.yaml",
          "services:\n  cache:\n    image: redis\n    build: .\n")
    write(tmp_path / "compose.yaml", """
include: [lib/compose.yaml]
services:
  web:
    extends: {file: base/common.yaml, service: tmpl}
    environment: [B=2]
  debug:
    image: x
    profiles: [dev]
""")
    model = load_dir(tmp_path)
    web = model["services"]["web"]
    assert web["volumes"][0]["source"] == str(tmp_path / "base" / "data")
    assert web["environment"] == {"A": "1", "B": "2"}
    assert model["services"]["cache"]["build"]["context"] == str(tmp_path / "lib")
    assert "debug" not in model["services"]
    assert "debug" in load_dir(tmp_path, profiles=["dev"])["services"]
    assert "debug" in load_dir(tmp_path, services=["debug"])["services"]


def test_canonical_defaults_and_output(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", """
name: demo
services:
  a:
    image: x
    depends_on: [b]
    healthcheck: {test: "true"}
  b:
    image: x
    networks: [back]
networks: {back: {}, ext: {external: true}}
volumes: {v: {name: fixed}}
x-meta: {k: v}
""")
    model = load_dir(tmp_path)
    assert model["networks"] == {"back": {"name": "demo_back"}, "ext": {"external": True,
                                                                       "name": "ext"},
                                 "default": {"name": "demo_default"}}
    assert model["services"]["a"]["networks"] == {"default": None}
    assert model["services"]["a"]["depends_on"] == {
        "b": {"condition": "service_started", "required": True}}
    assert model["services"]["a"]["healthcheck"]["test"] == ["CMD-SHELL", "true"]
    assert model["volumes"] == {"v": {"name": "fixed"}}
    assert json.loads(dump(model, "json")) == model
    text = dump(model)
    assert text.startswith("name: demo\nservices:\n")
    assert "x-meta:" in text


def test_compose_file_variable_and_lookup_upwards(tmp_path: Path) -> None:
    write(tmp_path / "other.yml", "services: {o: {image: x}}\n")
    write(tmp_path / "compose.yaml", "services: {a: {image: x}}\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    assert list(load_dir(sub)["services"]) == ["a"]
    assert list(load_dir(tmp_path, environ={"COMPOSE_FILE": "other.yml"})["services"]) == ["o"]


def test_pre_start_hooks_take_the_service_image(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", """
services:
  a:
    image: app:1
    pre_start:
      - command: migrate --all
        user: "1000"
        privileged: "true"
        working_dir: /srv
        environment: [STEP=1, FROM_ENV]
        per_replica: false
      - image: other:2
    post_start: [{command: echo started}]
    pre_stop: [{command: [sh, -c, "echo bye"]}]
""")
    svc = load_dir(tmp_path, environ={"FROM_ENV": "x"})["services"]["a"]
    assert svc["pre_start"] == [
        {"command": ["migrate", "--all"], "user": "1000", "privileged": True,
         "working_dir": "/srv", "environment": {"STEP": "1", "FROM_ENV": "x"},
         "per_replica": False, "image": "app:1"},
        {"image": "other:2"}]
    assert svc["post_start"] == [{"command": ["echo", "started"]}]
    assert svc["pre_stop"] == [{"command": ["sh", "-c", "echo bye"]}]
    write(tmp_path / "compose.yaml", "services:\n  a:\n    image: x\n    pre_start:\n"
          "      - per_replica: maybe\n")
    with pytest.raises(ComposeFileError, match="pre_start.0.per_replica: invalid boolean"):
        load_dir(tmp_path)


def test_no_cache_filter_is_kept_for_the_build(tmp_path: Path) -> None:
    from minke.compose.imaging import build_params

    write(tmp_path / "compose.yaml",
          "services:\n  a:\n    build: {context: ., no_cache_filter: [deps]}\n")
    build = load_dir(tmp_path)["services"]["a"]["build"]
    assert build["no_cache_filter"] == ["deps"]
    # The classic builder has no per-stage switch: no cache at all covers the named stages.
    assert build_params("p-a", build)["nocache"] is True
    assert build_params("p-a", {"context": "."})["nocache"] is None


def test_unset_bare_variables_stay_null_and_are_not_passed(tmp_path: Path) -> None:
    from minke.compose import convert
    from minke.compose.model import Project

    write(tmp_path / "compose.yaml",
          "services:\n  a:\n    image: x\n    environment: [MAYBE, SET, EMPTY, K=v]\n")
    loaded = load(ProjectOptions(cwd=str(tmp_path), environ={"SET": "yes", "EMPTY": ""}))
    assert loaded.model["services"]["a"]["environment"] == {
        "MAYBE": None, "SET": "yes", "EMPTY": "", "K": "v"}
    body = convert.create_body(Project(loaded.name, loaded.model), "a", 1, "x", {}, "c")
    assert body["Env"] == ["SET=yes", "EMPTY=", "K=v"]


def test_expose_ranges_are_one_port_each() -> None:
    from minke.compose.convert import expose_ports

    assert expose_ports(["9091-9092", 80, "53/udp", "7000-7001/udp"]) == [
        "9091/tcp", "9092/tcp", "80/tcp", "53/udp", "7000/udp", "7001/udp"]
    with pytest.raises(ComposeFileError, match="invalid expose range '9-1'"):
        expose_ports(["9-1"])


def test_service_references_are_dependencies(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", """
services:
  app: {image: x, network_mode: "service:net", ipc: "service:shm", pid: "service:net",
        volumes_from: ["data:ro", "container:other"], links: ["db:database"]}
  net: {image: x}
  shm: {image: x}
  data: {image: x}
  db: {image: x}
""")
    deps = load_dir(tmp_path)["services"]["app"]["depends_on"]
    assert set(deps) == {"net", "shm", "data", "db"}
    assert deps["net"] == {"condition": "service_started", "restart": True, "required": True}
    assert deps["data"]["restart"] is False
    write(tmp_path / "compose.yaml",
          "services:\n  app:\n    image: x\n    ipc: service:nope\n")
    with pytest.raises(ComposeFileError, match="compose.yaml:4: service \"nope\" not found "
                       "for ipc 'service:nope'"):
        load_dir(tmp_path)
    write(tmp_path / "compose.yaml",
          "services:\n  app:\n    image: x\n    models: {llm: null}\n")
    with pytest.raises(ComposeFileError, match='refers to undefined model llm'):
        load_dir(tmp_path)
    write(tmp_path / "compose.yaml", "services:\n  app:\n    image: x\n"
          "    network_mode: service:app\n")
    with pytest.raises(ComposeFileError, match="dependency cycle detected: app -> app"):
        load_dir(tmp_path)


def test_cache_serves_a_read_while_its_inputs_are_unchanged(tmp_path: Path) -> None:
    from minke.compose.loader import cache

    project = tmp_path / "p"
    write(project / "compose.yaml", "services:\n  a:\n    image: ${IMG}\n")
    write(project / ".env", "IMG=one\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}

    def load_cached(**extra: str) -> tuple[str, bool]:
        opts = ProjectOptions(cwd=str(project), environ={**env, **extra})
        hit = cache.lookup(opts) is not None
        return cache.load(opts).model["services"]["a"]["image"], hit

    assert load_cached() == ("one", False)
    assert load_cached() == ("one", True)
    assert load_cached(COMPOSE_PROJECT_NAME="other") == ("one", True)  # name: stage two
    assert load_cached(UNRELATED="x") == ("one", True)
    assert load_cached(IMG="two") == ("two", False)  # a variable it looked up
    write(project / ".env", "IMG=three\n")
    assert load_cached() == ("three", False)
    write(project / "compose.override.yaml", "services:\n  a:\n    image: four\n")
    assert load_cached() == ("four", False)  # a file that appeared
    (project / "compose.override.yaml").unlink()
    assert load_cached() == ("three", False)
    assert load_cached(MINKE_COMPOSE_CACHE="0") == ("three", True)  # looked up, not used


def test_a_cached_load_imports_neither_the_yaml_parser_nor_the_validator(tmp_path: Path
                                                                          ) -> None:
    import subprocess
    import sys

    write(tmp_path / "p" / "compose.yaml", "services:\n  a:\n    image: x\n")
    script = (
        "import sys\n"
        "from minke.compose.loader.cache import load\n"
        "from minke.compose.loader.options import ProjectOptions\n"
        "print(load(ProjectOptions()).model['services']['a']['image'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ruamel', 'jsonschema'}))\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "p", env=env,
                             capture_output=True, text=True, check=True)
        return out.stdout.splitlines()

    assert run() == ["x", "['jsonschema', 'ruamel']"]  # the first load reads the files
    assert run() == ["x", "[]"]


def test_cache_keeps_the_newest_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    from minke.compose.loader import cache

    monkeypatch.setattr(cache, "KEEP", 2)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    for n in range(4):
        write(tmp_path / f"p{n}" / "compose.yaml", "services: {a: {image: x}}\n")
        cache.load(ProjectOptions(cwd=str(tmp_path / f"p{n}"), environ=env))
    assert len(list((tmp_path / "cache" / "minke" / "compose").iterdir())) == 2
    assert cache.lookup(ProjectOptions(cwd=str(tmp_path / "p3"), environ=env)) is not None
