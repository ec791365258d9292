"""``up --build`` through ``POST /build``, and secrets and configs as files in containers
(``file:`` bind-mounted, ``content:``/``environment:`` copied in after create)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_build_secrets_and_configs(project) -> None:  # noqa: ANN001
    ctx = project.directory / "app"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY greeting /greeting\n"
                                    'CMD ["sleep", "300"]\n')
    (ctx / "greeting").write_text("built-greeting\n")
    (project.directory / "token.txt").write_text("file-secret\n")
    project.write("""
services:
  app:
    build: {context: ./app, args: {BASE: busybox:latest}}
    network_mode: none
    stop_grace_period: 1s
    secrets: [token, {source: from_env, target: env_secret}]
    configs: [{source: inline, target: /etc/app.conf}]
secrets:
  token: {file: ./token.txt}
  from_env: {environment: SECRET_VALUE}
configs:
  inline: {content: "answer=42"}
""")
    project.run("up", "-d", "--build", "--wait")
    out = project.run("exec", "-T", "app", "sh", "-c",
                      "cat /greeting /run/secrets/token /run/secrets/env_secret; echo; "
                      "cat /etc/app.conf").stdout
    assert out.split() == ["built-greeting", "file-secret", "from-the-environment",
                           "answer=42"]
    image = project.docker().inspect_container(f"{project.name}-app-1")["Config"]["Image"]
    assert image == f"{project.name}-app"
