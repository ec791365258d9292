from __future__ import annotations

import pytest

from minke.engine.images.changes import apply_changes, empty_config
from minke.errors import InvalidParameter


def test_dockerfile_changes_build_the_config() -> None:
    config = apply_changes(
        empty_config(),
        [
            'CMD ["sh", "-c", "echo hi"]',
            'ENV A=1 B="two words"',
            "ENV LEGACY some value",
            "EXPOSE 80 53/udp 8000-8001",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER nobody",
            'LABEL com.example.x=y other="a b"',
            'VOLUME ["/data"]',
            "VOLUME /logs /cache",
            "STOPSIGNAL SIGQUIT",
        ],
    )
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Env"] == ["A=1", "B=two words", "LEGACY=some value"]
    assert set(config["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert config["WorkingDir"] == "/srv/app"
    assert config["User"] == "nobody"
    assert config["Labels"] == {"com.example.x": "y", "other": "a b"}
    assert set(config["Volumes"]) == {"/data", "/logs", "/cache"}
    assert config["StopSignal"] == "SIGQUIT"


def test_shell_form_and_entrypoint_reset() -> None:
    config = apply_changes(empty_config(), ["cmd echo hi", "ENTRYPOINT /bin/app"])
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/app"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # CMD given in the same changes stays
    config = apply_changes({**empty_config(), "Cmd": ["old"]}, ['ENTRYPOINT ["x"]'])
    assert config["Cmd"] is None


@pytest.mark.parametrize("bad", ["RUN echo", "FROM scratch", "EXPOSE 99999", "ENV =x"])
def test_invalid_changes(bad: str) -> None:
    with pytest.raises(InvalidParameter):
        apply_changes(empty_config(), [bad])
