from __future__ import annotations

from minke.client.framing import (
    STDERR,
    STDOUT,
    FrameDecoder,
    JSONLinesDecoder,
    demux,
    encode_frame,
    json_messages,
)


def test_frame_header_layout() -> None:
    assert encode_frame(STDERR, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"


def test_decoder_handles_frames_split_anywhere() -> None:
    data = encode_frame(STDOUT, b"hello\n") + encode_frame(STDERR, b"oops\n") + \
        encode_frame(STDOUT, b"")
    for cut in range(len(data) + 1):
        decoder = FrameDecoder()
        frames = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert frames == [(STDOUT, b"hello\n"), (STDERR, b"oops\n"), (STDOUT, b"")]
        assert decoder.pending == 0


def test_decoder_byte_by_byte_and_pending() -> None:
    data = encode_frame(STDOUT, b"x" * 70000)
    frames = list(demux(data[i:i + 1] for i in range(len(data) - 1)))
    assert frames == []
    decoder = FrameDecoder()
    decoder.feed(data[:-1])
    assert decoder.pending == len(data) - 1


def test_json_lines_across_chunks_and_utf8_boundaries() -> None:
    text = '{"status":"Loaded é"}\n{"a":1}{"b":[2]}\n'.encode()
    chunks = [text[i:i + 3] for i in range(0, len(text), 3)]
    assert list(json_messages(chunks)) == [{"status": "Loaded é"}, {"a": 1}, {"b": [2]}]


def test_json_lines_waits_for_incomplete_document() -> None:
    decoder = JSONLinesDecoder()
    assert decoder.feed(b'{"a": ') == []
    assert decoder.feed(b'1}\n') == [{"a": 1}]
