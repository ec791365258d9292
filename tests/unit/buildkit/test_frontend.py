"""The dockerfile.v0 frontend's reading of a BuildKit client's request: attributes to build
options, which frontends and ``# syntax=`` lines it accepts, and errors that name the line."""

from __future__ import annotations

import pytest

from minke.buildkit import frontend
from minke.buildkit.control import _grpc_error
from minke.buildkit.pb import errdefs_pb2
from minke.errors import NotSupported


def test_attributes_become_build_options() -> None:
    options = frontend.options_from({
        "filename": "Dockerfile.dev", "target": "test", "build-arg:A": "1",
        "build-arg:B": "", "label:org.x": "y", "no-cache": "", "platform": "linux/amd64",
        "image-resolve-mode": "pull", "force-network-mode": "none",
    }, "Dockerfile.dev", b"FROM busybox\n")
    assert options.dockerfile == "Dockerfile.dev"
    assert options.dockerfile_data == b"FROM busybox\n"
    assert options.build_args == {"A": "1", "B": ""}
    assert options.labels == {"org.x": "y"}
    assert (options.target, options.no_cache, options.pull) == ("test", True, True)
    assert (options.platform, options.network) == ("linux/amd64", "none")
    cached = frontend.options_from({"no-cache": "stage1", "image-resolve-mode": "local"},
                                   "Dockerfile", b"")
    assert not cached.no_cache and not cached.pull


def test_named_contexts_are_refused() -> None:
    with pytest.raises(NotSupported, match="named build contexts"):
        frontend.options_from({"context:base": "docker-image://alpine"}, "Dockerfile", b"")


@pytest.mark.parametrize("name", [
    "docker/dockerfile:1", "docker/dockerfile:1.7", "docker/dockerfile:1.7.0-labs",
    "docker.io/docker/dockerfile:1", "docker/dockerfile", "docker/dockerfile:labs",
    "docker/dockerfile:1@sha256:" + "a" * 64,
])
def test_builtin_syntax_names(name: str) -> None:
    assert frontend.is_builtin_syntax(name)


@pytest.mark.parametrize("name", ["example.com/me/frontend:1", "tonistiigi/dockerfile:1",
                                  "docker/dockerfile:evil"])
def test_other_syntax_names(name: str) -> None:
    assert not frontend.is_builtin_syntax(name)


def test_frontends() -> None:
    frontend.check_frontend("dockerfile.v0", {})
    frontend.check_frontend("gateway.v0", {"source": "docker/dockerfile:1"})
    with pytest.raises(NotSupported, match="unsupported frontend gateway.v0 .source me/fe"):
        frontend.check_frontend("gateway.v0", {"source": "me/fe"})
    with pytest.raises(NotSupported, match="unsupported frontend frontend.v9"):
        frontend.check_frontend("frontend.v9", {})


def test_syntax_error_names_file_and_line_in_buildkits_shape() -> None:
    data = b"FROM busybox\nRUN true\nFROOB x\n"
    with pytest.raises(frontend.FrontendError) as caught:
        frontend._check_syntax("Dockerfile", data, {})
    err = caught.value
    assert err.message == "dockerfile parse error on line 3: unknown instruction: FROOB"
    assert (err.filename, err.line, err.data) == ("Dockerfile", 3, data)
    status = _grpc_error(err)
    assert status.message == err.message
    (detail,) = status.details
    assert isinstance(detail, errdefs_pb2.Source)
    assert detail.info.filename == "Dockerfile" and detail.info.data == data
    assert detail.ranges[0].start.line == 3


def test_external_syntax_line_is_an_error_naming_it() -> None:
    data = b"# syntax=example.com/me/frontend:1\nFROM busybox\n"
    with pytest.raises(frontend.FrontendError, match="'example.com/me/frontend:1'") as caught:
        frontend._check_syntax("Dockerfile", data, {})
    assert caught.value.line == 1
    frontend._check_syntax("Dockerfile", b"# syntax=docker/dockerfile:1\nFROM busybox\n", {})
    with pytest.raises(frontend.FrontendError, match="'me/fe'"):
        frontend._check_syntax("Dockerfile", b"FROM busybox\n",
                               {"build-arg:BUILDKIT_SYNTAX": "me/fe"})


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(frontend.FrontendError, match="^failed to reach build target nope"):
        frontend._check_syntax("Dockerfile", b"FROM busybox AS a\n", {"target": "nope"})


def test_step_names_number_filesystem_steps_within_each_stage() -> None:
    data = (b"ARG BASE=busybox\nFROM $BASE AS build\nENV A=1\nRUN make\nCOPY . /src\n"
            b"FROM busybox\nCOPY --from=build /src /app\nCMD [\"/app\"]\n")
    names = frontend._check_syntax("Dockerfile", data, {})
    assert names == [
        None,
        "[build 1/3] FROM $BASE AS build", None, "[build 2/3] RUN make",
        "[build 3/3] COPY . /src",
        "[stage-1 1/2] FROM busybox", "[stage-1 2/2] COPY --from=build /src /app", None,
    ]
    single = frontend._check_syntax("Dockerfile", b"FROM busybox\nRUN true\n", {})
    assert single == ["[1/2] FROM busybox", "[2/2] RUN true"]
