from __future__ import annotations

import io

from minke.cli.formatting import Row, expand_format, render_list, tabwrite

TITLES = {"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES"}
DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Names}}"


def test_tabwrite_minimum_width_and_padding() -> None:
    out = tabwrite(["CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES"])
    assert out == ("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n")


def test_tabwrite_widest_cell_sets_the_column() -> None:
    out = tabwrite(["A\tB\tC", "longer-than-ten\tx\ty"])
    assert out.splitlines() == ["A".ljust(18) + "B".ljust(10) + "C",
                                "longer-than-ten".ljust(18) + "x".ljust(10) + "y"]


def test_tabwrite_last_cell_is_never_padded() -> None:
    assert tabwrite(["a\tb", "c\t"]) == "a         b\nc         \n"


def _render(rows: list[Row], fmt: str | None, quiet: bool = False) -> str:
    out = io.StringIO()
    render_list(out, rows, fmt, default=DEFAULT, titles=TITLES, quiet=quiet)
    return out.getvalue()


ROWS = [Row({"ID": "0123456789ab", "Image": "busybox", "Names": "web"}),
        Row({"ID": "ba9876543210", "Image": "alpine:3.20", "Names": "db"})]


def test_default_table() -> None:
    assert _render(ROWS, None).splitlines() == [
        "CONTAINER ID   IMAGE         NAMES",
        "0123456789ab   busybox       web",
        "ba9876543210   alpine:3.20   db",
    ]


def test_empty_list_prints_the_header_only() -> None:
    assert _render([], None) == "CONTAINER ID   IMAGE     NAMES\n"


def test_custom_table_with_escaped_tab() -> None:
    assert _render(ROWS, "table {{.Names}}\\t{{.ID}}").splitlines() == [
        "NAMES     CONTAINER ID", "web       0123456789ab", "db        ba9876543210"]


def test_plain_format_and_json_and_quiet() -> None:
    assert _render(ROWS, "{{.Names}}") == "web\ndb\n"
    assert _render(ROWS, "json").splitlines()[0] == \
        '{"ID":"0123456789ab","Image":"busybox","Names":"web"}'
    assert _render(ROWS, None, quiet=True) == "0123456789ab\nba9876543210\n"


def test_unknown_field_in_header_is_its_name_upper() -> None:
    assert _render(ROWS[:1], "table {{.Other}}").splitlines()[0] == "OTHER"


def test_expand_format() -> None:
    assert expand_format("", "D") == "D"
    assert expand_format("table", "D") == "D"
    assert expand_format("json", "D") == "{{json .}}"
    assert expand_format("{{.ID}}", "D") == "{{.ID}}"
