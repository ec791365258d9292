"""Verbs end to end against the fake daemon: request sequences, output, exit codes."""

from __future__ import annotations

import threading

import pytest
from fakedaemon import FakeDaemon, Request

from minke.cli.main import main
from minke.client.framing import STDERR, STDOUT, encode_frame

CID = "0123456789ab" + "c" * 52


def run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capfd.readouterr()
    return status, out, err


def test_ps_table(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("GET", "/containers/json", [{
        "Id": CID, "Names": ["/web"], "Image": "busybox", "Command": "sleep 1000",
        "Created": 0, "State": "running", "Status": "Up 3 seconds",
        "Ports": [{"PrivatePort": 80, "Type": "tcp", "PublicPort": 8080, "IP": "0.0.0.0"}],
    }])
    status, out, _ = run(capfd, "ps", "-a", "--filter", "name=web")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("CONTAINER ID   IMAGE     COMMAND        CREATED")
    assert lines[0].endswith("STATUS         PORTS                  NAMES")
    assert lines[1].startswith("0123456789ab   busybox   \"sleep 1000\"")
    assert "Up 3 seconds" in lines[1] and "0.0.0.0:8080->80/tcp" in lines[1]
    assert lines[1].endswith("web")
    assert daemon.paths()[-1] == \
        "GET /v1.41/containers/json?all=1&filters=%7B%22name%22%3A%7B%22web%22%3Atrue%7D%7D"
    status, out, _ = run(capfd, "container", "ls", "-q", "--no-trunc")
    assert out == CID + "\n"
    status, out, _ = run(capfd, "ps", "--format", "{{.Names}} {{.State}}")
    assert out == "web running\n"


def test_rm_reports_each_failure_at_the_end(daemon: FakeDaemon,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("DELETE", r"/containers/(\w+)",
                 lambda req, name: req.reply(204) if name == "ok" else
                 req.reply(404, {"message": f"No such container: {name}"}))
    status, out, err = run(capfd, "rm", "-v", "nope", "ok", "gone")
    assert status == 1
    assert out == "ok\n"
    assert err == ("Error response from daemon: No such container: nope\n"
                   "Error response from daemon: No such container: gone\n")
    status, out, err = run(capfd, "rm", "-f", "nope")
    assert (status, out, err) == (0, "", "")


def _run_daemon(daemon: FakeDaemon, exit_code: int) -> None:
    started = threading.Event()
    daemon.json_route("POST", "/containers/create", {"Id": CID, "Warnings": []}, 201)

    def attach(req: Request, _cid: str) -> None:
        sock = req.upgrade()
        started.wait(5)
        sock.sendall(encode_frame(STDOUT, b"hello\n") + encode_frame(STDERR, b"oops\n"))
        sock.close()

    def wait(req: Request, _cid: str) -> None:
        req.head_now_body_later(started, {"StatusCode": exit_code, "Error": None})

    daemon.route("POST", r"/containers/(\w+)/attach", attach)
    daemon.route("POST", r"/containers/(\w+)/wait", wait)
    daemon.route("POST", r"/containers/(\w+)/start", lambda req, _c: (started.set(),
                                                                       req.reply(204)))


def test_run_sequence_output_and_exit_code(daemon: FakeDaemon,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    _run_daemon(daemon, 7)
    status, out, err = run(capfd, "run", "--rm", "--name", "t1", "busybox", "sh", "-c", "x")
    assert (status, out, err) == (7, "hello\n", "oops\n")
    assert daemon.paths() == [
        "HEAD /_ping",
        "POST /v1.41/containers/create?name=t1",
        f"POST /v1.41/containers/{CID}/attach?stderr=1&stdout=1&stream=1",
        f"POST /v1.41/containers/{CID}/wait?condition=removed",
        f"POST /v1.41/containers/{CID}/start",
    ]
    assert daemon.requests[1].json()["HostConfig"]["AutoRemove"] is True


def test_run_detached_prints_the_id(daemon: FakeDaemon,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    _run_daemon(daemon, 0)
    status, out, _ = run(capfd, "run", "-d", "busybox", "sleep", "9")
    assert (status, out) == (0, CID + "\n")
    assert [p.split("?")[0] for p in daemon.paths()[1:]] == [
        "POST /v1.41/containers/create", f"POST /v1.41/containers/{CID}/wait",
        f"POST /v1.41/containers/{CID}/start"]


def test_run_missing_image(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("POST", "/containers/create",
                      {"message": "No such image: nosuch:latest"}, 404)
    status, out, err = run(capfd, "run", "nosuch")
    assert status == 125
    assert err.startswith("Unable to find image 'nosuch:latest' locally\n"
                          "minke: Error response from daemon: No such image: nosuch:latest\n")


def test_run_start_failure_exit_codes(daemon: FakeDaemon,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("POST", "/containers/create", {"Id": CID}, 201)
    daemon.route("POST", r"/containers/(\w+)/wait", lambda req, _c: req.reply(200, {}))
    daemon.json_route("POST", r"/containers/(\w+)/start",
                      {"message": 'exec: "nope": executable file not found in $PATH'}, 400)
    status, _, err = run(capfd, "run", "-d", "busybox", "nope")
    assert status == 127
    assert "executable file not found" in err


def test_exec_sequence_and_exit_code(daemon: FakeDaemon,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("GET", r"/containers/(\w+)/json", {"Id": CID})
    daemon.json_route("POST", r"/containers/(\w+)/exec", {"Id": "e1"}, 201)

    def start(req: Request, _eid: str) -> None:
        sock = req.upgrade()
        sock.sendall(encode_frame(STDOUT, b"ran\n"))
        sock.close()

    daemon.route("POST", r"/exec/(\w+)/start", start)
    daemon.json_route("GET", r"/exec/(\w+)/json", {"ExitCode": 3, "Running": False})
    status, out, _ = run(capfd, "exec", "-e", "A=1", "-u", "nobody", "web", "echo", "ran")
    assert (status, out) == (3, "ran\n")
    assert [p for p in daemon.paths()] == [
        "HEAD /_ping", "GET /v1.41/containers/web/json", "POST /v1.41/containers/web/exec",
        "POST /v1.41/exec/e1/start", "GET /v1.41/exec/e1/json"]
    body = daemon.requests[2].json()
    assert body["Cmd"] == ["echo", "ran"] and body["Env"] == ["A=1"]
    assert body["User"] == "nobody" and body["AttachStdout"] and not body["AttachStdin"]
    assert daemon.requests[3].json() == {"Detach": False, "Tty": False}


def test_inspect_format_and_missing(daemon: FakeDaemon,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("GET", "/containers/web/json",
                      {"Id": CID, "State": {"Status": "running"}, "Config": {"Labels": {}}})
    daemon.route("GET", r"/(containers|images|networks|volumes)/(\w+)(/json)?",
                 lambda req, *_: req.reply(404, {"message": "not found"}))
    status, out, err = run(capfd, "inspect", "-f", "{{.State.Status}}", "web", "ghost")
    assert (status, out, err) == (1, "running\n", "Error: No such object: ghost\n")
    status, out, err = run(capfd, "container", "inspect", "ghost")
    assert (status, out, err) == (1, "[]\n", "Error: No such container: ghost\n")
    status, out, _ = run(capfd, "inspect", "web")
    assert out.startswith('[\n    {\n        "Id": "')


def test_images_tag_rmi(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.json_route("GET", "/images/json", [{
        "Id": "sha256:" + "f" * 64, "RepoTags": ["busybox:latest", "bb:1"], "Created": 0,
        "Size": 4_260_000, "RepoDigests": []}])
    status, out, _ = run(capfd, "images")
    lines = out.splitlines()
    assert lines[0] == "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE"
    assert lines[1].startswith("busybox      latest    ffffffffffff   ")
    assert lines[1].endswith("4.26MB")
    assert lines[2].startswith("bb           1 ")
    daemon.route("POST", r"/images/(.+)/tag", lambda req, _n: req.reply(201))
    assert run(capfd, "tag", "busybox", "mine:v1")[0] == 0
    assert daemon.requests[-1].query == {"repo": "docker.io/library/mine", "tag": "v1"}
    daemon.json_route("DELETE", r"/images/(.+)", [{"Untagged": "mine:v1"},
                                                  {"Deleted": "sha256:abc"}])
    status, out, _ = run(capfd, "rmi", "mine:v1")
    assert out == "Untagged: mine:v1\nDeleted: sha256:abc\n"


def test_no_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path,
                   capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MINKE_HOST", f"unix://{tmp_path}/none.sock")
    status, out, err = run(capfd, "ps")
    assert status == 1
    assert err == (f"Cannot connect to the minke daemon at unix://{tmp_path}/none.sock. "
                   "Is the minke daemon running?\n")
    status, out, err = run(capfd, "version")
    assert status == 1 and out.startswith("Client:\n Version:")


def test_usage_errors(capfd: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capfd, "ps", "--bogus")
    assert status == 125 and err.startswith("unknown flag: --bogus")
    status, out, _ = run(capfd, "--help")
    assert status == 0 and "Common Commands:" in out
    status, _, err = run(capfd, "frobnicate")
    assert status == 1 and "unknown command" in err
