// What every board behind the page shares: the wire to the kernel (comm messages through anywidget), the relay
// that keeps §4.1's one-request-at-a-time rule, an injected delay for benchmarks, and the events the drawing
// listens to (bytes flowing, state changes).
//   kernel -> page  {type: "bytes"} + one buffer   bytes for the board, in order (requests, or raw bootloader bytes)
//                   {type: "flush"}                 forget requests not yet handed to the board
//                   {type: "forget"}                forget those and the one with the board (the kernel stopped
//                                                   waiting for its answer: its next request goes at once)
//                   {type: "raw", on}               raw mode on/off (see relay.js)
//                   {type: "ping"}                  answer with "hello" if a board is there
//   page -> kernel  {type: "hello", boot}           a board is there; `boot` changes when it is a new one
//                   {type: "bytes"} + one buffer    bytes the board sent
//                   {type: "gone", message}         the board went away (unplugged, taken over): one sentence
import { Relay } from "./relay.js";

export class BoardLink extends EventTarget {
  constructor(model) {
    super();
    this.model = model;
    this.state = "starting";
    this.message = "";
    this.boot = null;
    this.lastTx = 0; // when the board last sent a byte (the TX LED)
    this.lastRx = 0; // when it last got one (RX)
    this.relay = new Relay((bytes) => {
      this.lastRx = performance.now();
      this.dispatchEvent(new Event("activity"));
      this.toBoard(bytes);
    });
    this.onKernelMessage = (content, buffers) => this.fromKernel(content, buffers);
    model.on("msg:custom", this.onKernelMessage);
  }

  toBoard(_bytes) {} // the board kind's own way of getting bytes to the chip

  later(action) {
    // an injected network delay (bingo_kit's benchmarks): what a hub across the internet adds to each message
    const delay = this.model.get("latency_ms") || 0;
    if (delay > 0) setTimeout(action, delay);
    else action();
  }

  send(content, bytes) {
    this.later(() => this.model.send(content, undefined, bytes ? [bytes.buffer] : undefined));
  }

  setState(state, message = "") {
    this.state = state;
    this.message = message;
    this.dispatchEvent(new Event("change"));
  }

  hello() {
    this.boot = Math.random().toString(36).slice(2);
    this.send({ type: "hello", boot: this.boot });
  }

  gone(message) {
    this.boot = null;
    this.relay.reset();
    this.send({ type: "gone", message });
  }

  fromKernel(content, buffers) {
    if (content.type === "ping") {
      if (this.boot) this.send({ type: "hello", boot: this.boot });
    } else if (content.type === "bytes" && buffers && buffers.length) {
      const view = buffers[0];
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
      this.later(() => this.relay.fromKernel(bytes));
    } else if (content.type === "flush") {
      this.later(() => this.relay.flush());
    } else if (content.type === "forget") {
      this.later(() => this.relay.reset());
    } else if (content.type === "raw") {
      this.later(() => this.relay.setRaw(!!content.on));
    } else {
      this.later(() => this.command(content));
    }
  }

  command(_content) {} // the board kind's own commands (signals, baud)

  fromBoard(bytes) {
    this.lastTx = performance.now();
    this.dispatchEvent(new Event("activity"));
    this.relay.fromBoard(bytes);
    this.send({ type: "bytes" }, bytes);
  }

  dispose() {
    this.model.off("msg:custom", this.onKernelMessage);
    this.relay.dispose();
  }
}

// The TX/RX LEDs of a drawn board: lit while bytes flow, long enough to see.
const LED_MS = 60;

export function blinkLeds(link, element) {
  let timer = null;
  function lights() {
    const now = performance.now();
    element.ledTX = now - link.lastTx < LED_MS;
    element.ledRX = now - link.lastRx < LED_MS;
    clearTimeout(timer);
    if (element.ledTX || element.ledRX) timer = setTimeout(lights, LED_MS);
  }
  link.addEventListener("activity", lights);
  return () => {
    link.removeEventListener("activity", lights);
    clearTimeout(timer);
  };
}

// A drawn board with a caption beside it, its LEDs blinking while bytes flow; `describe(parts)` fills the caption
// whenever the board's state changes. Returns the view's clean-up.
export function boardFigure(link, el, { className, title, body, describe }) {
  el.classList.add(className);
  el.innerHTML = `
    <div style="display:flex;align-items:center;gap:18px;font-size:15px;line-height:1.5">
      <wokwi-arduino-uno style="flex:0 0 auto"></wokwi-arduino-uno>
      <div><div><b>${title}</b></div>${body}</div>
    </div>`;
  const uno = el.querySelector("wokwi-arduino-uno");
  const update = () => {
    el.dataset.state = link.state;
    describe(uno);
  };
  const stopBlinking = blinkLeds(link, uno);
  link.addEventListener("change", update);
  update();
  return () => {
    stopBlinking();
    link.removeEventListener("change", update);
  };
}

