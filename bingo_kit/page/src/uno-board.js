// The Simulated Uno in the page: the receiver's .hex runs in a Web Worker (worker.js); this side starts it, relays
// bytes to and from the kernel, keeps the board's EEPROM in the browser (localStorage) so a model survives a page
// reload as it survives a power cycle, and draws the board.
import { BoardLink, boardFigure } from "./link.js";
import workerSource from "./worker.bundle.js.txt";

const EEPROM_BYTES = 1024;
const HEADER_BYTES = 4; // PROTOCOL.md §3: u16 length, u16 CRC, then the blob

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

export class UnoBoard extends BoardLink {
  constructor(model) {
    super(model);
    this.key = storageKey(model);
    this.worker = null;
    this.mhz = null;
    this.eeprom = loadEeprom(this.key);
    this.persistent = true;
    this.releaseLock = null;
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
        this.powerOff();
        this.setState("moved", "This Uno is now running in another notebook or tab.");
        this.gone("The Simulated Uno in the page moved to another notebook or tab: use it there, or reload this page.");
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
      this.gone("The Simulated Uno in the page stopped: reload the page.");
    };
    this.worker.postMessage({ type: "start", hex: this.model.get("firmware_hex"), eeprom: this.eeprom });
  }

  powerOff() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
  }

  toBoard(bytes) {
    if (this.worker) this.worker.postMessage({ type: "rx", bytes });
  }

  fromWorker(message) {
    if (message.type === "ready") {
      this.setState("running");
      this.hello();
    } else if (message.type === "tx") {
      this.fromBoard(message.bytes);
    } else if (message.type === "eeprom") {
      this.eeprom = message.bytes;
      this.persistent = saveEeprom(this.key, message.bytes);
      this.dispatchEvent(new Event("change"));
    } else if (message.type === "speed") {
      this.mhz = message.mhz;
      this.dispatchEvent(new Event("change"));
      this.send({ type: "speed", mhz: message.mhz });
    }
  }

  storedModel() {
    // What the EEPROM record says (PROTOCOL.md §3); the board itself checks its CRC at boot.
    if (!this.eeprom) return null;
    const length = this.eeprom[0] | (this.eeprom[1] << 8);
    if (length === 0 || length === 0xffff || length > EEPROM_BYTES - HEADER_BYTES) return null;
    return { length, crc: this.eeprom[2] | (this.eeprom[3] << 8) };
  }

  dispose() {
    super.dispose();
    this.powerOff();
    if (this.releaseLock) this.releaseLock();
  }
}

export function renderUno(board, el) {
  return boardFigure(board, el, {
    className: "bingo-page-uno",
    title: "Simulated Uno in this page",
    body: `
      <div class="bingo-page-uno-state"></div>
      <div class="bingo-page-uno-eeprom"></div>
      <div style="background:#e0e0e0;width:260px;height:12px;border-radius:3px">
        <div class="bingo-page-uno-eeprom-bar" style="background:#6a1b9a;height:12px;width:0;border-radius:3px"></div>
      </div>`,
    describe(uno) {
      uno.ledPower = true;
      const stateLine = el.querySelector(".bingo-page-uno-state");
      if (board.state === "running") {
        const speed = board.mhz ? ` · runs at ${board.mhz.toFixed(1)} MHz (a real Uno: 16)` : "";
        stateLine.textContent = `running the receiver${speed}`;
      } else {
        stateLine.textContent = board.state === "starting" ? "starting…" : board.message;
      }
      const stored = board.storedModel();
      const eepromLine = el.querySelector(".bingo-page-uno-eeprom");
      eepromLine.textContent = stored
        ? `memory (EEPROM): a model of ${stored.length} bytes, checksum 0x${stored.crc.toString(16).padStart(4, "0").toUpperCase()}`
        : "memory (EEPROM): no model yet";
      if (!board.persistent) eepromLine.textContent += " (this browser will forget it on reload)";
      const used = stored ? stored.length + HEADER_BYTES : 0;
      el.querySelector(".bingo-page-uno-eeprom-bar").style.width = `${Math.round((260 * used) / EEPROM_BYTES)}px`;
    },
  });
}
