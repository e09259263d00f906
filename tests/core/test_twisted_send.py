"""daphne's TCP transport sends a frame at once when nothing waits, and keeps Twisted's
buffered path for everything else (apps/core/twisted_send.py)."""

from __future__ import annotations

import contextlib
import importlib
import json
import socket

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol

from apps.core import twisted_send
from apps.core.twisted_send import SendAtOnceServer


class FakeReactor:
    """Records what a transport registers with the reactor; runs nothing."""

    def __init__(self) -> None:
        self.writers: set[object] = set()
        self.add_writer_calls = 0

    def addWriter(self, writer: object) -> None:  # noqa: N802 (Twisted's name)
        self.add_writer_calls += 1
        self.writers.add(writer)

    def removeWriter(self, writer: object) -> None:  # noqa: N802
        self.writers.discard(writer)

    def addReader(self, reader: object) -> None:  # noqa: N802
        pass

    def removeReader(self, reader: object) -> None:  # noqa: N802
        pass


@pytest.fixture
def pair():
    """A real loopback TCP connection: (the server transport, the client socket, the reactor)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    listener.close()
    accepted.setblocking(False)
    reactor = FakeReactor()
    transport = SendAtOnceServer(accepted, Protocol(), address, None, 1, reactor)
    yield transport, client, reactor
    client.close()
    accepted.close()


def receive(client: socket.socket, size: int) -> bytes:
    client.settimeout(5)
    chunks = []
    while size > 0:
        chunk = client.recv(min(size, 1 << 16))
        assert chunk, "connection closed early"
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def flush(transport: SendAtOnceServer, reactor: FakeReactor, client: socket.socket) -> bytes:
    """Run the reactor's part by hand: doWrite while registered, reading what arrives."""
    received = []
    client.settimeout(0.2)
    for _ in range(10_000):
        if transport not in reactor.writers:
            break
        assert transport.doWrite() is None
        with contextlib.suppress(TimeoutError):
            received.append(client.recv(1 << 20))
    assert transport not in reactor.writers
    client.settimeout(0.2)
    while True:
        try:
            chunk = client.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        received.append(chunk)
    return b"".join(received)


def test_a_frame_goes_to_the_socket_at_once_without_waiting_for_the_loop(pair):
    transport, client, reactor = pair

    transport.write(b"frame one")
    transport.write(b"frame two")

    assert receive(client, 18) == b"frame oneframe two"
    assert reactor.add_writer_calls == 0  # never registered for writability: no loop turn
    assert transport._tempDataBuffer == []


def test_what_the_kernel_does_not_take_is_buffered_in_order_and_sent_by_twisted(pair):
    transport, client, reactor = pair
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big = bytes(range(256)) * 8192  # 2 MB: far more than the kernel buffers
    tail = b"and then this"

    transport.write(big)
    assert transport in reactor.writers  # part left over: Twisted's buffered path
    transport.write(tail)  # something is waiting, so this must queue behind it

    assert flush(transport, reactor, client) == big + tail


def test_a_closing_connection_keeps_twisteds_path(pair):
    transport, client, reactor = pair
    transport.loseConnection()
    reactor.add_writer_calls = 0

    transport.write(b"late")

    assert transport._tempDataBuffer == [b"late"]  # queued for the closing flush, not sent


class Producer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self):  # noqa: N802 (Twisted's names)
        self.calls.append("pause")

    def resumeProducing(self):  # noqa: N802
        self.calls.append("resume")

    def stopProducing(self):  # noqa: N802
        self.calls.append("stop")


def test_a_streaming_producer_does_not_stop_it(pair):
    """daphne's sockets all carry one: the HTTP channel registers itself as a push producer
    when the connection opens and stays registered after the upgrade to a WebSocket."""
    transport, client, reactor = pair
    producer = Producer()
    transport.registerProducer(producer, True)

    transport.write(b"pushed")

    assert receive(client, 6) == b"pushed"
    assert reactor.add_writer_calls == 0 and producer.calls == []


def test_a_streaming_producer_is_still_paused_when_the_kernel_is_full(pair):
    transport, client, reactor = pair
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    producer = Producer()
    transport.registerProducer(producer, True)
    big = bytes(range(256)) * 8192

    transport.write(big)
    transport.write(big)  # behind the first: over Twisted's buffer size

    assert "pause" in producer.calls  # back-pressure as Twisted gives it
    assert flush(transport, reactor, client) == big + big


def test_a_pull_producer_keeps_twisteds_path(pair):
    """A pull producer writes only when asked, and is asked when doWrite empties the buffer."""
    transport, client, reactor = pair
    producer = Producer()
    transport.registerProducer(producer, False)
    producer.calls.clear()

    transport.write(b"pulled")

    assert transport._tempDataBuffer == [b"pulled"]
    assert transport in reactor.writers
    assert flush(transport, reactor, client) == b"pulled"
    assert producer.calls == ["resume"]  # asked for more once the buffer emptied


def test_a_lost_connection_is_left_for_twisted_to_find(pair):
    transport, client, reactor = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # RST: the next send fails
    transport.write(b"x")  # may still be taken by the kernel before the RST arrives
    for _ in range(50):
        if transport in reactor.writers:
            break
        transport.write(b"x")

    assert transport in reactor.writers  # the failed send left the bytes to doWrite ...
    assert isinstance(transport.doWrite(), Exception)  # ... which reports the loss as before


def test_str_is_still_refused(pair):
    transport, client, reactor = pair
    with pytest.raises(TypeError):
        transport.write("text")  # type: ignore[arg-type]


def test_the_asgi_module_installs_it_unless_turned_off(settings):
    original = tcp.Port.transport
    try:
        tcp.Port.transport = tcp.Server
        settings.SOCKET_SEND_AT_ONCE = False
        import virtualiop.asgi

        importlib.reload(virtualiop.asgi)
        assert not twisted_send.installed()

        settings.SOCKET_SEND_AT_ONCE = True
        importlib.reload(virtualiop.asgi)
        assert twisted_send.installed()
        assert tcp.Port.transport is SendAtOnceServer
    finally:
        tcp.Port.transport = original


def _probe_daphne(send_at_once: str) -> list[dict[str, int]]:
    """Run a real daphne with the project's ASGI app; send 20 frames through a WebSocket
    (HTTP upgrade and all, as browsers do); return the write counts seen after each."""
    import asyncio
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import websockets

    root = Path(__file__).resolve().parents[2]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SOCKET_SEND_AT_ONCE": send_at_once, "PYTHONPATH": str(root)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.core.daphne_send_probe:application",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "daphne did not start"
            time.sleep(0.1)

        async def frames() -> list[dict[str, int]]:
            seen = []
            async with websockets.connect(f"ws://127.0.0.1:{port}/probe/") as ws:
                for _ in range(20):
                    await ws.send("count")
                    seen.append(json.loads(await ws.recv()))
            return seen

        return asyncio.run(frames())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_daphnes_websocket_frames_take_the_fast_path():
    seen = _probe_daphne("1")
    writes = seen[-1]["writes"] - seen[0]["writes"]
    registered = seen[-1]["registered"] - seen[0]["registered"]
    assert writes == 19  # one frame written per answer
    assert registered == 0  # none waited for a loop turn


def test_with_it_turned_off_every_frame_waits_for_the_loop():
    seen = _probe_daphne("0")
    assert seen[-1]["registered"] - seen[0]["registered"] == 19  # Twisted's path, as before
