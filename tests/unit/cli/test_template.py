from __future__ import annotations

import pytest

from minke.cli.template import TemplateError, go_str, render, to_json

DATA = {
    "ID": "abc123",
    "Names": "web",
    "Config": {"Labels": {"k": "v", "a": "b"}, "Env": ["A=1", "B=2"], "Tty": False,
               "Cmd": None},
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
    "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
    "Count": 3,
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{.ID}}", "abc123"),
    ("{{.Names}}", "web"),
    ("id={{ .ID }}!", "id=abc123!"),
    ("{{.State.Status}}", "running"),
    ("{{.State.Pid}}", "4242"),
    ("{{index .Config.Labels \"k\"}}", "v"),
    ("{{index .Mounts 1}}", "map[Destination:/y Source:/b]"),
    ("{{(index .Mounts 0).Source}}", "/a"),
    ("{{json .Config.Labels}}", '{"a":"b","k":"v"}'),
    ("{{json .Config.Cmd}}", "null"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/a:/x /b:/y "),
    ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}", "0=/a;1=/b;"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}{{$v}}{{end}}", "abkv"),
    ("{{range .Nothing}}x{{else}}empty{{end}}", "empty"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Tty}}tty{{else if .State.Running}}run{{else}}no{{end}}", "run"),
    ("{{if not .Config.Tty}}notty{{end}}", "notty"),
    ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", "ok"),
    ("{{if or .Config.Tty .Count}}some{{end}}", "some"),
    ("{{if eq .Names \"x\" \"web\"}}match{{end}}", "match"),
    ("{{if ne .Names \"web\"}}no{{else}}yes{{end}}", "yes"),
    ("{{if gt .Count 2}}big{{end}}", "big"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{with .Nothing}}x{{else}}none{{end}}", "none"),
    ("{{join .Config.Env \",\"}}", "A=1,B=2"),
    ("{{split \"a:b\" \":\"}}", "[a b]"),
    ("{{upper .Names}}", "WEB"),
    ("{{.Names | upper}}", "WEB"),
    ("{{lower \"ABC\"}}", "abc"),
    ("{{title \"hello world\"}}", "Hello World"),
    ("{{println .ID}}", "abc123\n"),
    ("{{len .Mounts}}", "2"),
    ("{{truncate .ID 3}}", "abc"),
    ("{{pad .Names 1 2}}", " web  "),
    ("{{printf \"%s:%d\" .Names .Count}}", "web:3"),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Config.Labels}}", "map[a:b k:v]"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Config.Cmd}}", "<nil>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.State.Running}}", "true"),
    ("a  {{- .Names -}}  b", "awebb"),
    ("{{/* a comment */}}x", "x"),
    ("{{$n := .Names}}{{$n}}-{{$.ID}}", "web-abc123"),
    ("{{`raw\\n`}}", "raw\\n"),
    ("{{\"quoted\\tstring\"}}", "quoted\tstring"),
    ("{{json .}}", to_json(DATA)),
])
def test_render(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize("template", [
    "{{.ID", "{{if .ID}}x", "{{end}}", "{{nosuchfunc .ID}}", "{{else}}", "{{$undefined}}",
    "{{.ID | }}",
])
def test_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, DATA)


def test_methods_of_row_objects_take_arguments() -> None:
    from minke.cli.formatting import Row

    row = Row({"ID": "x"}, {"Label": lambda k: {"a": "1"}.get(k, "")})
    assert render('{{.Label "a"}}|{{json .}}', row) == '1|{"ID":"x"}'


def test_go_str_formats_like_fmt() -> None:
    assert go_str(1.0) == "1"
    assert go_str(1.5) == "1.5"
    assert go_str(False) == "false"
    assert go_str([1, "a", None]) == "[1 a <nil>]"


def test_json_does_not_escape_html() -> None:
    assert render("{{json .}}", {"a": "<&>", "b": "é"}) == '{"a":"<&>","b":"é"}'
