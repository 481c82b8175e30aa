// The page side of bingo_kit.board.page.PageUno (an anywidget): it runs the Simulated Uno in a Web Worker
// (worker.js), relays bytes between the worker's UART and the kernel, keeps the board's EEPROM in the browser so a
// model survives a page reload (as it survives a power cycle), and draws the Uno with its TX/RX LEDs.
//
// The kernel speaks the whole protocol (hardware/PROTOCOL.md); this module moves bytes, and keeps one rule of it:
// the board gets one request at a time (§4.1: its receive buffer holds 63 bytes). The kernel may send many
// requests in one message, since a message can take 100 ms to cross a hub; the page hands them to the board one
// by one, each after the board's answer to the one before (the Relay below), so a batch costs one crossing.
//   kernel -> page  {type: "bytes"} + one buffer   requests (or any bytes) for the board's UART, in order
//                   {type: "flush"}                 forget requests not yet handed to the board
//                   {type: "ping"}                  answer with "hello" (the kernel wants to know a page is here)
//   page -> kernel  {type: "hello", boot}           the board runs; `boot` changes at every power-on
//                   {type: "bytes"} + one buffer    bytes the board sent
//                   {type: "speed", mhz}            how fast the simulation runs, about once a second
import "./define-once.js"; // before the Uno element: a second copy of this module must not define it again
import "@wokwi/elements/dist/esm/arduino-uno-element.js";
import "./define-restore.js";
import workerSource from "./worker.bundle.js.txt";

const EEPROM_BYTES = 1024;
const HEADER_BYTES = 4; // PROTOCOL.md §3: u16 length, u16 CRC, then the blob
const LED_MS = 60; // how long a LED stays lit after a byte: long enough to see

// instance -> its running board (one per model, however many views). anywidget hands initialize() and each
// render() a different wrapper of the same model, so the kernel gives each PageUno an id to find it by.
const boards = new Map();

const REQUEST_SYNC = 0xa5; // PROTOCOL.md §4.1
const RESPONSE_SYNC = 0x5a; // §4.2
const E_FRAME_LENGTH = 0x02; // §6: the board then ignores bytes until the line has been quiet for 50 ms (§4.3)
const QUIET_AFTER_BAD_LENGTH_MS = 100;
const ANSWER_WAIT_MS = 8000; // the longest a request goes unanswered before the next one goes anyway (COMMIT of 1 KB: ~4 s)

// Hands requests to the board one at a time: the next after the board's complete answer to the one before.
class Relay {
  constructor(send) {
    this.send = send; // (Uint8Array) -> the board
    this.queue = []; // bytes from the kernel not yet handed over
    this.waiting = false; // a request is with the board, its answer not complete
    this.answer = []; // the answer's bytes so far (from its sync byte)
    this.timer = null;
  }

  fromKernel(bytes) {
    for (const value of bytes) this.queue.push(value);
    this.next();
  }

  flush() {
    this.queue = [];
  }

  next() {
    while (!this.waiting && this.queue.length) {
      if (this.queue[0] !== REQUEST_SYNC) {
        this.send(Uint8Array.of(this.queue.shift())); // not a frame: the board discards it (§4.3)
        continue;
      }
      if (this.queue.length < 3) return; // the rest of the frame is on its way
      const length = 5 + this.queue[2];
      if (this.queue[2] > 59) {
        // a length the board refuses at once (§4.3): hand over what there is and let the board answer
        this.send(Uint8Array.from(this.queue.splice(0, Math.min(length, this.queue.length))));
      } else {
        if (this.queue.length < length) return;
        this.send(Uint8Array.from(this.queue.splice(0, length)));
      }
      this.waiting = true;
      this.answer = [];
      this.timer = setTimeout(() => this.answered(0), ANSWER_WAIT_MS);
    }
  }

  fromBoard(bytes) {
    for (const value of bytes) {
      if (!this.waiting) continue;
      if (!this.answer.length && value !== RESPONSE_SYNC) continue;
      this.answer.push(value);
      if (this.answer.length >= 4 && this.answer.length === 6 + this.answer[3]) this.answered(this.answer[2]);
    }
  }

  answered(status) {
    clearTimeout(this.timer);
    this.waiting = false;
    this.answer = [];
    if (status === E_FRAME_LENGTH) {
      this.waiting = true; // let the line go quiet first, as the kernel does when it sends frames one by one
      this.timer = setTimeout(() => {
        this.waiting = false;
        this.next();
      }, QUIET_AFTER_BAD_LENGTH_MS);
    } else {
      this.next();
    }
  }
}

function storageKey(model) {
  // One board per user of this server: on a JupyterHub every user's pages share one origin.
  let base = "";
  try {
    base = JSON.parse(document.getElementById("jupyter-config-data")?.textContent || "{}").baseUrl || "";
  } catch (error) {
    base = "";
  }
  return `bingo-kit:${base}:${model.get("storage_key")}`;
}

function loadEeprom(key) {
  try {
    const text = localStorage.getItem(key);
    if (!text) return null;
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return bytes.length === EEPROM_BYTES ? bytes : null;
  } catch (error) {
    return null; // no storage in this browser: the board starts empty
  }
}

function saveEeprom(key, bytes) {
  try {
    localStorage.setItem(key, btoa(String.fromCharCode(...bytes)));
    return true;
  } catch (error) {
    return false;
  }
}

class PageBoard extends EventTarget {
  constructor(model) {
    super();
    this.model = model;
    this.key = storageKey(model);
    this.worker = null;
    this.state = "starting"; // starting | running | moved | failed
    this.message = "";
    this.mhz = null;
    this.eeprom = loadEeprom(this.key);
    this.persistent = true;
    this.lastTx = 0;
    this.lastRx = 0;
    this.releaseLock = null;
    this.relay = new Relay((bytes) => {
      if (!this.worker) return; // taken over by another tab: the kernel's read times out and says so
      this.lastRx = performance.now();
      this.dispatchEvent(new Event("activity"));
      this.worker.postMessage({ type: "rx", bytes });
    });
    this.onKernelMessage = (content, buffers) => this.fromKernel(content, buffers);
    model.on("msg:custom", this.onKernelMessage);
    this.acquire();
  }

  acquire() {
    // One tab (or notebook) runs this board at a time, as one USB cable holds one board: the newest takes it over.
    if (!navigator.locks) {
      this.powerOn();
      return;
    }
    navigator.locks
      .request(this.key, { steal: true }, () => {
        this.powerOn();
        return new Promise((resolve) => {
          this.releaseLock = resolve;
        });
      })
      .catch(() => {
        // another notebook or tab took the board over
        this.powerOff();
        this.setState("moved", "This Uno is now running in another notebook or tab.");
      });
  }

  powerOn() {
    this.eeprom = loadEeprom(this.key) || this.eeprom;
    const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
    this.worker = new Worker(url);
    URL.revokeObjectURL(url);
    this.worker.onmessage = (event) => this.fromWorker(event.data);
    this.worker.onerror = (event) => {
      this.setState("failed", `The simulated Uno stopped: ${event.message || "an error in its worker"}.`);
    };
    this.boot = Math.random().toString(36).slice(2);
    this.worker.postMessage({ type: "start", hex: this.model.get("firmware_hex"), eeprom: this.eeprom });
  }

  powerOff() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
  }

  dispose() {
    this.model.off("msg:custom", this.onKernelMessage);
    this.powerOff();
    if (this.releaseLock) this.releaseLock();
  }

  later(action) {
    // an injected network delay (bingo_kit's benchmarks): what a hub across the internet adds to each message
    const delay = this.model.get("latency_ms") || 0;
    if (delay > 0) setTimeout(action, delay);
    else action();
  }

  setState(state, message) {
    this.state = state;
    this.message = message;
    this.dispatchEvent(new Event("change"));
  }

  hello() {
    this.later(() => this.model.send({ type: "hello", boot: this.boot }));
  }

  fromKernel(content, buffers) {
    if (content.type === "ping") {
      if (this.state === "running") this.hello();
    } else if (content.type === "bytes" && buffers && buffers.length) {
      const view = buffers[0];
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
      this.later(() => this.relay.fromKernel(bytes));
    } else if (content.type === "flush") {
      this.later(() => this.relay.flush());
    }
  }

  fromWorker(message) {
    if (message.type === "ready") {
      this.setState("running", "");
      this.hello();
    } else if (message.type === "tx") {
      this.lastTx = performance.now();
      this.dispatchEvent(new Event("activity"));
      const bytes = message.bytes;
      this.relay.fromBoard(bytes);
      this.later(() => this.model.send({ type: "bytes" }, undefined, [bytes.buffer]));
    } else if (message.type === "eeprom") {
      this.eeprom = message.bytes;
      this.persistent = saveEeprom(this.key, message.bytes);
      this.dispatchEvent(new Event("change"));
    } else if (message.type === "speed") {
      this.mhz = message.mhz;
      this.dispatchEvent(new Event("change"));
      this.later(() => this.model.send({ type: "speed", mhz: message.mhz }));
    }
  }

  storedModel() {
    // What the EEPROM record says (PROTOCOL.md §3); the board itself checks its CRC at boot.
    if (!this.eeprom) return null;
    const length = this.eeprom[0] | (this.eeprom[1] << 8);
    if (length === 0 || length === 0xffff || length > EEPROM_BYTES - HEADER_BYTES) return null;
    return { length, crc: this.eeprom[2] | (this.eeprom[3] << 8) };
  }
}

function initialize({ model }) {
  const board = new PageBoard(model);
  const instance = model.get("instance");
  boards.set(instance, board);
  return () => {
    board.dispose();
    if (boards.get(instance) === board) boards.delete(instance);
  };
}

function render({ model, el }) {
  const board = boards.get(model.get("instance"));
  el.classList.add("bingo-page-uno");
  if (!board) {
    el.textContent = "The Simulated Uno did not start in this page: reload the page.";
    return undefined;
  }
  el.innerHTML = `
    <div style="display:flex;align-items:center;gap:18px;font-size:15px;line-height:1.5">
      <wokwi-arduino-uno style="flex:0 0 auto"></wokwi-arduino-uno>
      <div>
        <div><b>Simulated Uno in this page</b></div>
        <div class="bingo-page-uno-state"></div>
        <div class="bingo-page-uno-eeprom"></div>
        <div style="background:#e0e0e0;width:260px;height:12px;border-radius:3px">
          <div class="bingo-page-uno-eeprom-bar" style="background:#6a1b9a;height:12px;width:0;border-radius:3px"></div>
        </div>
      </div>
    </div>`;
  const uno = el.querySelector("wokwi-arduino-uno");
  const stateLine = el.querySelector(".bingo-page-uno-state");
  const eepromLine = el.querySelector(".bingo-page-uno-eeprom");
  const eepromBar = el.querySelector(".bingo-page-uno-eeprom-bar");
  uno.ledPower = true;
  let ledTimer = null;

  function lights() {
    const now = performance.now();
    uno.ledTX = now - board.lastTx < LED_MS;
    uno.ledRX = now - board.lastRx < LED_MS;
    clearTimeout(ledTimer);
    if (uno.ledTX || uno.ledRX) ledTimer = setTimeout(lights, LED_MS);
  }

  function describe() {
    el.dataset.state = board.state;
    if (board.state === "running") {
      const speed = board.mhz ? ` · runs at ${board.mhz.toFixed(1)} MHz (a real Uno: 16)` : "";
      stateLine.textContent = `running the receiver${speed}`;
    } else if (board.state === "starting") {
      stateLine.textContent = "starting…";
    } else {
      stateLine.textContent = board.message;
    }
    const stored = board.storedModel();
    eepromLine.textContent = stored
      ? `memory (EEPROM): a model of ${stored.length} bytes, checksum 0x${stored.crc.toString(16).padStart(4, "0").toUpperCase()}`
      : "memory (EEPROM): no model yet";
    if (!board.persistent) eepromLine.textContent += " (this browser will forget it on reload)";
    eepromBar.style.width = `${Math.round(260 * ((stored ? stored.length + HEADER_BYTES : 0) / EEPROM_BYTES))}px`;
    el.dataset.modelLength = stored ? String(stored.length) : "";
    el.dataset.modelCrc = stored ? String(stored.crc) : "";
  }

  board.addEventListener("activity", lights);
  board.addEventListener("change", describe);
  describe();
  return () => {
    board.removeEventListener("activity", lights);
    board.removeEventListener("change", describe);
    clearTimeout(ledTimer);
  };
}

export default { initialize, render };
