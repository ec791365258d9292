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
