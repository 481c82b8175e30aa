// The Simulated Uno in the page: the receiver's shipped .hex running in avr8js, in a Web Worker so the page stays
// responsive. The same .hex runs on a real Uno and in simavr (bingo_kit/board/simavr.py); everything on the wire is
// hardware/PROTOCOL.md, spoken by the kernel (bingo_kit/board/board.py), not here: this worker only moves bytes.
//
// Messages from the page (widget.js):
//   {type: "start", hex, eeprom: Uint8Array|null}   load the program and the stored EEPROM, power on
//   {type: "rx", bytes: Uint8Array}                 bytes for the board's UART, in order
// Messages to the page:
//   {type: "ready"}                                  the board runs (its setup() starts now)
//   {type: "tx", bytes: Uint8Array}                  bytes the board sent
//   {type: "eeprom", bytes: Uint8Array}              the whole EEPROM, after the sketch changed it
//   {type: "speed", mhz}                             simulated MHz per wall-clock second, about once a second
import {
  AVREEPROM,
  AVRTimer,
  AVRUSART,
  CPU,
  EEPROMMemoryBackend,
  avrInstruction,
  timer0Config,
  timer1Config,
  timer2Config,
  usart0Config,
} from "avr8js";
import { loadIntelHex } from "./intelhex.js";

const CLOCK_HZ = 16_000_000; // an Uno's crystal
const FLASH_BYTES = 32 * 1024; // ATmega328P
const SRAM_BYTES = 2048;
const EEPROM_BYTES = 1024;
// How far the board's clock may run ahead of the wall clock before the worker sleeps. A host that waits for an
// answer feels every millisecond the board runs ahead, because its bytes can only enter the board's "present".
const AHEAD_MS = 1;
// A starved worker (a busy Chromebook) does not race to catch up more than this: like a real board, it just
// lost that time.
const BEHIND_MS = 50;
const SLICE_MS = 4; // the longest stretch of simulation between two looks at the message queue
// A COMMIT writes an EEPROM byte every 3.6 ms; the page stores the whole EEPROM (localStorage) at most this often
// while it changes, and always before the board's next bytes. Once per byte took CPU from this worker.
const EEPROM_POST_MS = 100;

let cpu = null;
let usart = null;
let eepromMemory = null;
let eepromChanged = false;
let eepromPostedAt = 0;
const rxQueue = []; // bytes from the host, waiting for the UART
let txBytes = []; // bytes the board sent in this slice
let wallStart = 0; // performance.now() at which the board's clock read 0
let cyclesAtSpeedCheck = 0;
let wallAtSpeedCheck = 0;
let timer = null;
// A worker that is behind yields through a message to itself, not setTimeout(run, 0): browsers stretch chained
// zero timeouts to 4 ms, so a board that ran 4 ms and then slept 4 ms ran at about half speed (12.6 MHz here).
const wake = new MessageChannel();
wake.port1.onmessage = () => run();

function start(hexText, storedEeprom) {
  const program = new Uint16Array(FLASH_BYTES / 2);
  loadIntelHex(hexText, new Uint8Array(program.buffer));
  cpu = new CPU(program, SRAM_BYTES);
  // Timer0 drives millis(), Timer1 the sketch's cycle counter (PREDICT's timing), Timer2 is set up by the core.
  new AVRTimer(cpu, timer0Config);
  new AVRTimer(cpu, timer1Config);
  new AVRTimer(cpu, timer2Config);
  usart = new AVRUSART(cpu, usart0Config, CLOCK_HZ);
  usart.onByteTransmit = (value) => txBytes.push(value);
  usart.onRxComplete = feedUart; // the next byte starts as soon as the previous one has arrived, as on a wire
  const backend = new EEPROMMemoryBackend(EEPROM_BYTES);
  if (storedEeprom && storedEeprom.length === EEPROM_BYTES) backend.memory.set(storedEeprom);
  const write = backend.writeMemory.bind(backend);
  const erase = backend.eraseMemory.bind(backend);
  backend.writeMemory = (address, value) => {
    write(address, value);
    eepromChanged = true;
  };
  backend.eraseMemory = (address) => {
    erase(address);
    eepromChanged = true;
  };
  eepromMemory = backend.memory;
  // avr8js times an EEPROM write at 1.8 ms erase + 1.8 ms write: the ATmega328P's 3.4 ms, near enough.
  new AVREEPROM(cpu, backend);
  wallStart = performance.now();
  wallAtSpeedCheck = wallStart;
  self.postMessage({ type: "ready" });
  run();
}

function feedUart() {
  // writeByte refuses while a byte is still on its way in, or before the sketch has enabled its receiver.
  if (usart && rxQueue.length && usart.writeByte(rxQueue[0])) rxQueue.shift();
}

function flush() {
  // The EEPROM first: when the host reads COMMIT's answer, the page has already stored the new model.
  const now = performance.now();
  if (eepromChanged && (txBytes.length || now - eepromPostedAt >= EEPROM_POST_MS)) {
    eepromChanged = false;
    eepromPostedAt = now;
    self.postMessage({ type: "eeprom", bytes: eepromMemory.slice() });
  }
  if (txBytes.length) {
    self.postMessage({ type: "tx", bytes: Uint8Array.from(txBytes) });
    txBytes = [];
  }
}

function run() {
  timer = null;
  const now = performance.now();
  let target = (now - wallStart) * (CLOCK_HZ / 1000);
  if (target - cpu.cycles > BEHIND_MS * (CLOCK_HZ / 1000)) {
    wallStart = now - cpu.cycles / (CLOCK_HZ / 1000) - BEHIND_MS;
    target = (now - wallStart) * (CLOCK_HZ / 1000);
  }
  const sliceEnd = now + SLICE_MS;
  const limit = target + AHEAD_MS * (CLOCK_HZ / 1000);
  while (cpu.cycles < limit) {
    for (let i = 0; i < 256; i++) {
      avrInstruction(cpu);
      cpu.tick();
    }
    if (rxQueue.length && !usart.rxBusy) feedUart(); // a receiver the sketch only just enabled
    if (performance.now() > sliceEnd) break;
  }
  flush();
  if (now - wallAtSpeedCheck > 1000) {
    self.postMessage({ type: "speed", mhz: (cpu.cycles - cyclesAtSpeedCheck) / (now - wallAtSpeedCheck) / 1000 });
    cyclesAtSpeedCheck = cpu.cycles;
    wallAtSpeedCheck = now;
  }
  const aheadMs = (cpu.cycles - (performance.now() - wallStart) * (CLOCK_HZ / 1000)) / (CLOCK_HZ / 1000);
  if (aheadMs > AHEAD_MS) {
    timer = setTimeout(run, aheadMs - AHEAD_MS);
  } else {
    wake.port2.postMessage(null); // still behind the wall clock: carry on once the message queue has had its look
  }
}

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "start") {
    start(message.hex, message.eeprom);
  } else if (message.type === "rx") {
    for (const value of message.bytes) rxQueue.push(value);
    feedUart();
    if (timer !== null) {
      // wake now: the board answers in its own time, not after the nap the worker planned while idle
      clearTimeout(timer);
      run();
    }
  }
};
