from __future__ import annotations

import pytest
from tests.unit.engine.containers.test_config import record

from minke.engine.containers import views
from minke.errors import InvalidParameter, NoSuchImage
from minke.units import human_duration


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3600, "About an hour"), (7200, "2 hours"),
    (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (800 * 86400, "2 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_status_text() -> None:
    state = {"Status": "exited", "ExitCode": 3, "FinishedAt": "2026-01-01T00:00:00.5Z",
             "StartedAt": "2026-01-01T00:00:00Z"}
    now = views.parse_time("2026-01-01T00:00:10Z")
    assert views.status_text(state, now) == "Exited (3) 9 seconds ago"
    assert views.status_text({**state, "Status": "running"}, now) == "Up 10 seconds"
    assert views.status_text({**state, "Status": "created"}, now) == "Created"


def test_filters() -> None:
    r = record({"Labels": {"app": "web"}})
    assert views.matches(r, {"label": ["app=web"]})
    assert not views.matches(r, {"label": ["app=db"]})
    assert views.matches(r, {"name": ["n"], "status": ["created"]})
    assert not views.matches(r, {"status": ["running"]})
    assert views.matches(r, {"id": ["aaa"]})
    with pytest.raises(InvalidParameter, match="invalid filter 'colour'"):
        views.check_filters({"colour": ["red"]})
    with pytest.raises(InvalidParameter, match="status=sleeping"):
        views.check_filters({"status": ["sleeping"]})


def test_summary_shape() -> None:
    s = views.summary(record({"Cmd": ["sh", "-c", "echo a b"]}))
    assert s["Names"] == ["/n"]
    assert s["Command"] == "sh -c 'echo a b'"
    assert s["State"] == "created" and s["Status"] == "Created"


def test_shown_image_is_the_id_once_the_reference_names_another_image() -> None:
    made_from = "sha256:" + "b" * 64
    tags = {"x": made_from}

    def resolve(ref: str) -> str:
        if ref not in tags:
            raise NoSuchImage(ref)
        return tags[ref]

    r = record({})
    assert views.summary(r, views.shown_image(r, resolve))["Image"] == "x"
    tags["x"] = "sha256:" + "c" * 64  # the tag moved to another image
    assert views.summary(r, views.shown_image(r, resolve))["Image"] == made_from
    del tags["x"]  # the tag is gone
    assert views.shown_image(r, resolve) == made_from
