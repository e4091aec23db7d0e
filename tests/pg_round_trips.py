"""Count the round trips clients make to PostgreSQL: a loopback proxy that reads the wire.

Put `RoundTrips(server_url).url_for(database_url)` where the app's database URL goes; every
message a client sends passes through unchanged. A round trip is what the client waits on: a
simple query (`Q`) or an extended-protocol batch ended by `Sync` (`S`). Each is recorded with the
statements it ran (the text of a `Q`, or of the prepared statement a `Bind` executes), so a test
can count a request's round trips and say which statements they were. Preparing a statement (a
batch with no `Execute`) is recorded apart: asyncpg does it once a connection.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

_UNTYPED = {80877103, 80877104}  # SSLRequest, GSSENCRequest: more untyped messages follow


@dataclass
class Trip:
    """One round trip: the statements it executed (empty: it only prepared one)."""

    statements: list[str] = field(default_factory=list)


class RoundTrips:
    """A proxy in front of one PostgreSQL server that records every client's round trips."""

    def __init__(self) -> None:
        self.trips: list[Trip] = []
        self._server: asyncio.Server | None = None
        self._target: tuple[str, int] = ("127.0.0.1", 5432)
        self.url = ""  # the database's URL through the proxy, once started

    async def start(self, database_url: str) -> str:
        """Listen on a free loopback port; returns `database_url` pointed at the proxy."""
        url = make_url(database_url)
        self._target = (url.host or "127.0.0.1", url.port or 5432)
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def executed(self) -> list[Trip]:
        """The round trips that executed something (not the ones that only prepared)."""
        return [trip for trip in self.trips if trip.statements]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        back = asyncio.ensure_future(_pipe(upstream_reader, writer))
        try:
            await self._forward(reader, upstream_writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            upstream_writer.close()
            await asyncio.gather(back, return_exceptions=True)
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # the start-up: untyped messages, length first
            head = await reader.readexactly(8)
            (length, code) = struct.unpack("!ii", head)
            body = await reader.readexactly(length - 8)
            writer.write(head + body)
            if code not in _UNTYPED:
                break
        prepared: dict[str, str] = {}
        pending = Trip()
        while True:
            head = await reader.readexactly(5)
            kind, length = head[:1], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            writer.write(head + body)
            if kind == b"P":
                name, _, rest = body.partition(b"\0")
                prepared[name.decode()] = rest.partition(b"\0")[0].decode()
            elif kind == b"B":
                statement = body[body.index(b"\0") + 1 :].partition(b"\0")[0].decode()
                pending.statements.append(prepared.get(statement, "?"))
            elif kind == b"Q":
                self.trips.append(Trip([body.rstrip(b"\0").decode()]))
            elif kind == b"S":
                self.trips.append(pending)
                pending = Trip()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
