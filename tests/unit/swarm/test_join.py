"""``swarm join``'s request as dockerd checks it, before anything is sent or written."""

from __future__ import annotations

from typing import Any

import pytest

from minke import errors
from minke.swarm.ca import RootCA, join_token
from minke.swarm.join import JoinRequest

TOKEN = join_token(RootCA.create())


def body(**extra: Any) -> dict[str, Any]:
    return {"ListenAddr": "0.0.0.0:2377", "RemoteAddrs": ["198.18.0.2:2377"],
            "JoinToken": TOKEN, **extra}


def test_a_docker_cli_request() -> None:
    plan = JoinRequest.parse(body(AdvertiseAddr="198.18.0.3", DataPathAddr="198.18.1.3",
                                  Availability="drain"))
    assert (plan.listen_addr, plan.advertise_addr, plan.data_path_addr) == (
        "0.0.0.0:2377", "198.18.0.3:2377", "198.18.1.3")
    assert plan.remote_addrs == ["198.18.0.2:2377"] and plan.availability == "drain"
    # No advertise address and a wildcard listen address: found when joining.
    assert JoinRequest.parse(body()).advertise_addr == ""
    assert JoinRequest.parse(body(RemoteAddrs=["198.18.0.2"])).remote_addrs == [
        "198.18.0.2:2377"]


@pytest.mark.parametrize(("extra", "message"), [
    ({"RemoteAddrs": []}, "at least 1 RemoteAddr is required to join"),
    ({"RemoteAddrs": "198.18.0.2"}, "invalid RemoteAddrs"),
    ({"JoinToken": "SWMTKN-1-abc-def"}, "invalid join token"),
    ({"JoinToken": ""}, "invalid join token"),
    ({"JoinToken": 7}, "invalid JoinToken"),
    ({"AdvertiseAddr": "0.0.0.0"}, "advertise address must be a non-zero IP address"),
    ({"ListenAddr": "nonsuchif0:2377"}, "listen address must be an IP address"),
    ({"DataPathAddr": "198.18.0.3:4789"}, "data path address must be a non-zero IP"),
    ({"Availability": "sometimes"}, 'invalid Availability: "sometimes"'),
])
def test_bad_requests_name_the_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.MinkeError, match=message):
        JoinRequest.parse(body(**extra))
