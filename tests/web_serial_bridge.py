"""A USB board for headless Chromium, which has no port chooser and lists no ptys: a test-only `navigator.serial`
whose SerialPort streams cross a WebSocket on localhost to a simulated board's pty (the receiver in simavr, or the
Simulated blank Uno with its real Optiboot). The page's real JavaScript then talks to the real firmware and the
real bootloader; only the USB cable is played by this file.

    with SerialBridge(lambda: board.port) as bridge:
        page.add_init_script(bridge.init_script())   # before the page loads
        ...
        bridge.drop()          # the cable is pulled: the socket closes, the page sees a "disconnect"
        bridge.delay_ms = 30   # every chunk of bytes is late by this much, both ways

What the fake does as Web Serial does: open() at a baud rate (the pty is opened at it: the blank Uno's runner
garbles bytes at a wrong rate, as a UART does); setSignals({dataTerminalReady}) with DTR low then high resets the
board (the bridge reopens the pty, which resets the Simulated blank Uno as DTR resets a real one); a second open
of a port in use fails with NetworkError "Failed to open serial port." (what Chrome says for a busy port and for a
forbidden one); a pulled cable errors the readable stream and fires "disconnect" with the port as its target.
`window.bingoFakeSerial.choose` = "port" (default) | "cancel" | "blocked" plays the chooser.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Callable

import serial
import tornado.httpserver
import tornado.ioloop
import tornado.web
import tornado.websocket

FAKE_SERIAL_JS = r"""
(() => {
  const BRIDGE = "ws://127.0.0.1:__PORT__/port";
  const lost = () => new DOMException("The device has been lost.", "NetworkError");
  const listeners = {};
  const fake = {
    async requestPort(options) {
      const choice = window.bingoFakeSerial.choose;
      if (choice === "cancel") throw new DOMException("No port selected by the user.", "NotFoundError");
      if (choice === "blocked") throw new DOMException("Access to the feature \"serial\" is disallowed by permissions policy.", "SecurityError");
      window.bingoFakeSerial.requested = options;
      return port;
    },
    async getPorts() { return window.bingoFakeSerial.granted ? [port] : []; },
    addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    removeEventListener(type, fn) { listeners[type] = (listeners[type] || []).filter((f) => f !== fn); },
    fire(type, target) { for (const fn of listeners[type] || []) fn({ type, target }); },
  };
  class FakeSerialPort {
    constructor() { this.readable = null; this.writable = null; this.ws = null; }
    getInfo() { return { usbVendorId: 0x2341, usbProductId: 0x0043 }; }
    async open({ baudRate }) {
      if (this.ws) throw new DOMException("The port is already open.", "InvalidStateError");
      const ws = new WebSocket(BRIDGE);
      ws.binaryType = "arraybuffer";
      const failed = () => new DOMException("Failed to open serial port.", "NetworkError");
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(failed()); });
      ws.send(JSON.stringify({ open: baudRate }));
      const reply = await new Promise((resolve) => {
        ws.onmessage = (event) => resolve(JSON.parse(event.data));
        ws.onclose = () => resolve({ error: "closed" });
      });
      if (reply.error) { ws.close(); throw failed(); }
      let controller;
      this.readable = new ReadableStream({ start(c) { controller = c; } });
      this.writable = new WritableStream({ write: (chunk) => { if (this.ws !== ws) throw lost(); ws.send(chunk); } });
      this.ws = ws;
      ws.onmessage = (event) => { if (typeof event.data !== "string") controller.enqueue(new Uint8Array(event.data)); };
      ws.onclose = () => {
        if (this.ws !== ws) return;  // closed by us
        this.ws = null;
        this.readable = null;
        this.writable = null;
        try { controller.error(lost()); } catch (error) { /* already closed */ }
        fake.fire("disconnect", this);
      };
    }
    async setSignals(signals) {
      if (!this.ws) throw lost();
      this.ws.send(JSON.stringify({ dtr: !!signals.dataTerminalReady }));
    }
    async close() {
      const ws = this.ws;
      this.ws = null;
      this.readable = null;
      this.writable = null;
      if (ws) ws.close();
    }
  }
  const port = new FakeSerialPort();
  window.bingoFakeSerial = { choose: "port", granted: false, requested: null };
  Object.defineProperty(Navigator.prototype, "serial", { configurable: true, get: () => fake });
})();
"""

NO_WEB_SERIAL_JS = r"""
// a browser without Web Serial (Safari, an older Firefox)
delete Navigator.prototype.serial;
"""


class SerialBridge:
    """The USB cable between the fake navigator.serial and a pty; see the module docstring."""

    def __init__(self, device: Callable[[], str]):
        self.device = device          # where the board is now (a pty path; it changes when a simulator restarts)
        self.delay_ms = 0
        self.busy = False             # a second connection to the board finds it busy
        self.refuse = False           # every open fails, as for a port the user may not open
        self.opened = 0               # how many times the page opened the port
        self.bytes_to_board = 0
        self._sockets: list = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # --- the server -------------------------------------------------------------------------------
    def start(self) -> SerialBridge:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = tornado.web.Application([(r"/port", _PortSocket, {"bridge": self})])
            server = tornado.httpserver.HTTPServer(app)
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        import tornado.netutil  # noqa: F401 - bind_sockets

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> SerialBridge:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def init_script(self) -> str:
        return FAKE_SERIAL_JS.replace("__PORT__", str(self.port))

    # --- faults -----------------------------------------------------------------------------------
    def drop(self) -> None:
        """Pull the cable: every open connection closes at once."""
        for socket in list(self._sockets):
            self._loop.call_soon_threadsafe(socket.pull_the_cable)


class _PortSocket(tornado.websocket.WebSocketHandler):
    def initialize(self, bridge: SerialBridge) -> None:
        self.bridge = bridge
        self.serial: serial.Serial | None = None
        self.baud = 115200
        self.dtr = True
        self.reading = False

    def check_origin(self, origin: str) -> bool:
        return True  # the page's origin is the test's own JupyterLab

    async def on_message(self, message) -> None:
        if isinstance(message, bytes):
            if self.serial is not None:
                if self.bridge.delay_ms:
                    await asyncio.sleep(self.bridge.delay_ms / 1000)
                self.bridge.bytes_to_board += len(message)
                self.serial.write(message)
            return
        command = json.loads(message)
        if "open" in command:
            if self.bridge.refuse or (self.bridge.busy and self not in self.bridge._sockets):
                self.write_message(json.dumps({"error": "busy"}))
                return
            self.baud = int(command["open"])
            self._open()
            self.bridge._sockets.append(self)
            self.bridge.busy = True
            self.bridge.opened += 1
            self.write_message(json.dumps({"opened": True}))
        elif "dtr" in command:
            # DTR falling then rising is the pulse the auto-reset capacitor turns into a reset: reopening the
            # pty resets the Simulated blank Uno the same way
            if command["dtr"] and not self.dtr:
                self._close_serial()
                self._open()
            self.dtr = bool(command["dtr"])

    def _open(self) -> None:
        self.serial = serial.Serial(self.bridge.device(), self.baud, timeout=0)
        if not self.reading:
            self.reading = True
            asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        """Board → page, as bytes come."""
        while self.reading:
            data = b""
            if self.serial is not None:
                try:
                    data = self.serial.read(4096)
                except (serial.SerialException, OSError):
                    data = b""
            if data:
                if self.bridge.delay_ms:
                    await asyncio.sleep(self.bridge.delay_ms / 1000)
                try:
                    await self.write_message(data, binary=True)
                except tornado.websocket.WebSocketClosedError:
                    return
            else:
                await asyncio.sleep(0.001)

    def _close_serial(self) -> None:
        if self.serial is not None:
            self.serial.close()
            self.serial = None

    def pull_the_cable(self) -> None:
        self.close()
        self.on_close()

    def on_close(self) -> None:
        self.reading = False
        self._close_serial()
        if self in self.bridge._sockets:
            self.bridge._sockets.remove(self)
            self.bridge.busy = bool(self.bridge._sockets)
