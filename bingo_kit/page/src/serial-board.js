// A real board on the student's desk, reached from the page through Web Serial (navigator.serial): how a kernel on a
// JupyterHub (which sees only its server's ports) talks to the Uno plugged into a Chromebook. The kernel speaks the
// protocol; this side opens the port the student picks, relays bytes, and carries out the kernel's few line
// commands: the DTR line (a reset) and the baud rate, which a bootloader install needs.
//   kernel -> page  {type: "signals", dtr}    set DTR (and RTS) as avrdude does for a reset
//                   {type: "baud", baud}      reopen the port at another rate (an old Nano's bootloader: 57 600)
//   page -> kernel  {type: "problem", message}   why this page cannot reach a board at all (said once, at start)
import { BoardLink, boardFigure } from "./link.js";

const BOOT_QUIET_MS = 2000; // PROTOCOL.md §4.4: opening the port resets the board; its bootloader gets 2 s of silence
const CHANNEL = "bingo-kit-web-serial"; // tabs of this kit tell each other which boards they hold

export const SENTENCES = {
  unsupported:
    "This browser cannot reach a USB board: Web Serial needs Chrome, Edge or a Chromebook (or Firefox 151 or newer). " +
    "Open this notebook in one of those, or use the Simulated Uno in this page.",
  insecure:
    "This page is not served over HTTPS (or from this computer), and browsers allow USB boards only on such pages: " +
    "ask your teacher to open the hub with an https:// address.",
  cancelled: "No board was chosen: click Connect a board again and pick your Arduino in the list.",
  blocked:
    "The browser (or the school's settings) does not let this page ask for a USB board: ask your teacher to allow " +
    "serial devices for this site.",
  otherTab: "Another tab uses this board: close that notebook's tab (or press its Disconnect), then connect again.",
  cannotOpen:
    "The board's port could not be opened. Another program may hold it (close the Arduino IDE's Serial Monitor), " +
    "or, on Linux, you may not be allowed to use serial ports: run sudo usermod -aG dialout $USER, then log out " +
    "and in again.",
  unplugged:
    "The board was unplugged: plug it back in and click Connect a board again.",
};

export function webSerialProblem() {
  if (!window.isSecureContext) return "insecure";
  if (!navigator.serial) return "unsupported";
  return null;
}

function portLabel(port) {
  const info = port.getInfo ? port.getInfo() : {};
  return info.usbVendorId === undefined ? "a serial port" : `USB ${hex(info.usbVendorId)}:${hex(info.usbProductId)}`;
}

function hex(value) {
  return (value ?? 0).toString(16).padStart(4, "0");
}

export class SerialBoard extends BoardLink {
  constructor(model) {
    super(model);
    this.port = null;
    this.writer = null;
    this.reader = null;
    this.writes = Promise.resolve(); // bytes and line changes in the order the kernel sent them
    this.id = Math.random().toString(36).slice(2);
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
    this.heldElsewhere = new Set(); // boards ("vid:pid") other tabs hold
    if (this.channel) this.channel.onmessage = (event) => this.fromOtherTab(event.data);
    this.onDisconnect = (event) => {
      if (this.port && event.target === this.port) this.lost(SENTENCES.unplugged);
    };
    const problem = webSerialProblem();
    if (problem) {
      this.setState("failed", SENTENCES[problem]);
      this.send({ type: "problem", message: SENTENCES[problem] });
    } else {
      navigator.serial.addEventListener("disconnect", this.onDisconnect);
      this.setState("idle");
      this.askOtherTabs();
    }
  }

  key(port) {
    const info = port.getInfo ? port.getInfo() : {};
    return `${info.usbVendorId}:${info.usbProductId}`;
  }

  askOtherTabs() {
    if (this.channel) this.channel.postMessage({ type: "who", from: this.id });
  }

  fromOtherTab(message) {
    if (message.type === "who" && this.port) {
      this.channel.postMessage({ type: "held", key: this.key(this.port), from: this.id });
    } else if (message.type === "held") {
      this.heldElsewhere.add(message.key);
    } else if (message.type === "released") {
      this.heldElsewhere.delete(message.key);
    }
  }

  fail(sentence, lasting = false) {
    // The view says it at once. The kernel hears only what lasts (no Web Serial, an insecure page): after a
    // cancelled chooser or a busy port, a Flash should ask for Connect again, not repeat an old failure.
    this.setState("failed", sentence);
    if (lasting) this.send({ type: "problem", message: sentence });
  }

  async connect() {
    // Called from a click: the browser shows its port chooser only inside a user gesture.
    const problem = webSerialProblem();
    if (problem) return this.fail(SENTENCES[problem], true);
    if (this.port) return undefined;
    let port;
    try {
      const filters = this.model.get("usb_filters") || [];
      // a board this site may already use (chosen before, or allowed by the school's policy): no chooser needed
      const known = (await navigator.serial.getPorts()).filter((p) => {
        const info = p.getInfo ? p.getInfo() : {};
        return filters.some((f) => f.usbVendorId === info.usbVendorId &&
                                   (f.usbProductId === undefined || f.usbProductId === info.usbProductId));
      });
      port = known.length === 1 ? known[0] : await navigator.serial.requestPort({ filters });
    } catch (error) {
      return this.fail(error && error.name === "NotFoundError" ? SENTENCES.cancelled : SENTENCES.blocked);
    }
    return this.open(port, 115200);
  }

  async open(port, baudRate) {
    this.askOtherTabs();
    this.setState("connecting", "connecting…");
    try {
      await port.open({ baudRate });
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // answers from other tabs
      return this.fail(this.heldElsewhere.has(this.key(port)) ? SENTENCES.otherTab : SENTENCES.cannotOpen);
    }
    this.port = port;
    this.baud = baudRate;
    this.writer = port.writable.getWriter();
    if (this.channel) this.channel.postMessage({ type: "held", key: this.key(port), from: this.id });
    this.readLoop(port);
    this.relay.reset();
    this.relay.holdFor(BOOT_QUIET_MS); // opening the port reset the board (DTR): let its bootloader finish
    this.setState("connected", `connected: ${portLabel(port)} at ${baudRate} baud`);
    this.hello();
    return undefined;
  }

  async readLoop(port) {
    while (this.port === port && port.readable) {
      const reader = port.readable.getReader();
      this.reader = reader;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (value && value.length) this.fromBoard(value);
        }
      } catch (error) {
        // a framing or break error leaves the port usable; a lost device ends the loop below
      } finally {
        reader.releaseLock();
      }
      if (this.port === port && !port.readable) this.lost(SENTENCES.unplugged);
    }
  }

  toBoard(bytes) {
    this.writes = this.writes.then(async () => {
      if (!this.writer) return;
      try {
        await this.writer.write(bytes);
      } catch (error) {
        this.lost(SENTENCES.unplugged);
      }
    });
  }

  command(content) {
    if (content.type === "signals") {
      this.writes = this.writes.then(async () => {
        if (!this.port) return;
        try {
          await this.port.setSignals({ dataTerminalReady: !!content.dtr, requestToSend: !!content.dtr });
        } catch (error) {
          this.lost(SENTENCES.unplugged);
        }
      });
    } else if (content.type === "baud") {
      this.writes = this.writes.then(() => this.reopen(content.baud));
    }
  }

  async reopen(baudRate) {
    const port = this.port;
    if (!port || baudRate === this.baud) return;
    await this.release(false);
    try {
      await port.open({ baudRate });
    } catch (error) {
      this.lost(SENTENCES.unplugged);
      return;
    }
    this.port = port;
    this.baud = baudRate;
    this.writer = port.writable.getWriter();
    this.readLoop(port);
    this.setState("connected", `connected: ${portLabel(port)} at ${baudRate} baud`);
  }

  async release(tellOthers = true) {
    const port = this.port;
    this.port = null;
    if (!port) return;
    try {
      if (this.reader) await this.reader.cancel();
    } catch (error) {
      /* already gone */
    }
    try {
      if (this.writer) this.writer.releaseLock();
    } catch (error) {
      /* already released */
    }
    this.writer = null;
    try {
      await port.close();
    } catch (error) {
      /* unplugged: nothing to close */
    }
    if (tellOthers && this.channel) this.channel.postMessage({ type: "released", key: this.key(port), from: this.id });
  }

  lost(sentence) {
    if (!this.port) return;
    this.release();
    this.setState("failed", sentence);
    this.gone(sentence);
  }

  dispose() {
    super.dispose();
    this.release(); // the port is free for another tab or program as soon as the widget closes
    if (navigator.serial) navigator.serial.removeEventListener("disconnect", this.onDisconnect);
    if (this.channel) this.channel.close();
  }
}

export function renderSerial(board, el) {
  const cleanUp = boardFigure(board, el, {
    className: "bingo-web-serial",
    title: "Your board, through this browser",
    body: `
      <button class="bingo-web-serial-connect" style="font-size:15px;padding:4px 12px;margin:4px 0">
        Connect a board</button>
      <div class="bingo-web-serial-state"></div>`,
    describe(uno) {
      uno.ledPower = board.state === "connected";
      el.querySelector(".bingo-web-serial-connect").disabled =
        board.state === "connected" || board.state === "connecting";
      const stateLine = el.querySelector(".bingo-web-serial-state");
      stateLine.style.color = board.state === "failed" ? "#c62828" : "";
      stateLine.textContent = board.state === "idle"
        ? "Plug your Arduino into this computer, then click Connect a board and pick it."
        : board.message;
    },
  });
  el.querySelector(".bingo-web-serial-connect").addEventListener("click", () => board.connect());
  return cleanUp;
}
