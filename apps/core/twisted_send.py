"""daphne's sockets send a frame at once when nothing is waiting, as asyncio's transports do.

Twisted's TCP transport never sends in ``write()``: it buffers the bytes, registers the socket
for writability (an ``epoll_ctl``), sends on the next turn of the loop and unregisters (a
second ``epoll_ctl``). For a room broadcast that is two system calls and a loop turn for every
delivered frame; in the fan-out benchmark it was about a fifth of a daphne process's samples
(bench/RESULTS.md). asyncio's transports, and so the relay baseline, try ``send()`` at once and
buffer only what the kernel does not take.

:class:`SendAtOnceServer` is Twisted's server-side TCP transport with that one change: when
nothing is buffered, the connection is not closing and TLS is not in use, ``write()`` sends
what the kernel takes and leaves the rest to Twisted's own buffered path, so ordering,
back-pressure and error handling stay Twisted's. A lost connection is not handled here: the
bytes go to the buffer and Twisted's ``doWrite`` finds the loss as before.

A streaming (push) producer does not stop it: Twisted pauses one only when the buffer grows
past its size, and the buffer does not grow here. Every daphne socket has one — the HTTP
channel registers itself when the connection opens, and stays registered after the upgrade
to a WebSocket — so without this the fast path would never run for daphne's sockets. A pull
producer does stop it: it writes only when asked, and is asked when ``doWrite`` empties the
buffer, so its writes keep Twisted's path.

``install()`` makes TCP ports accept connections with it (it reads ``tcp.Port.transport`` at
every accept). It is called from ``virtualiop/asgi.py`` when ``SOCKET_SEND_AT_ONCE`` is on (the
default); importing this module does not install a reactor. Written against Twisted 26.10
(pinned in requirements/base.txt); ``tests/core/test_twisted_send.py`` holds it to that version's
buffered path.
"""

from __future__ import annotations

from twisted.internet import tcp


class SendAtOnceServer(tcp.Server):
    """A server-side TCP connection whose ``write()`` tries the socket first."""

    def write(self, data: bytes) -> None:
        if (
            not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnecting
            and not self._writeDisconnected
            and (self.producer is None or self.streamingProducer)
            and not self._tempDataBuffer
            and self.offset == len(self.dataBuffer)
            and isinstance(data, bytes)
            and data
        ):
            sent = self.writeSomeData(data)
            if isinstance(sent, int) and sent > 0:
                if sent == len(data):
                    return
                data = data[sent:]
            # Nothing sent, part sent or the connection lost: Twisted's buffered path.
        super().write(data)


def install() -> None:
    """Make Twisted's TCP ports hand accepted sockets to :class:`SendAtOnceServer`."""
    tcp.Port.transport = SendAtOnceServer


def installed() -> bool:
    return tcp.Port.transport is SendAtOnceServer
