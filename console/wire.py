"""What the console client and server say to each other: one JSON object per line (msgspec).

The client sends `Request`s, each carrying the token; the server answers each with a `Response`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

#: The longest request line the server reads; a console command is a few words.
MAX_LINE_BYTES = 64 * 1024

ReplyKind = Literal["text", "table", "data"]


class Request(msgspec.Struct, frozen=True):
    token: str
    argv: list[str]
    id: int = 0


class Table(msgspec.Struct, frozen=True):
    """Rows for the client to align; cells are already formatted for reading (None shows as '-')."""

    columns: list[str]
    rows: list[list[Any]]
    title: str = ""


class Response(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    ok: bool
    kind: ReplyKind = "text"
    body: Any = None  # str for text, a Table's fields for table, any JSON value for data
    error: str | None = None
    close: bool = False  # the server closes the connection after this answer


request_decoder = msgspec.json.Decoder(Request)
response_decoder = msgspec.json.Decoder(Response)
