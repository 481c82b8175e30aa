// Hands the kernel's requests to a board one at a time (PROTOCOL.md §4.1: the board's receive buffer holds 63 bytes,
// and the host sends the next request only after the answer to the one before). The kernel may send many requests
// in one message, since a message can take 100 ms to cross a hub: the page keeps the rule for it, so a batch
// costs one crossing. The page's Simulated Uno and a real board through Web Serial both sit behind one.
//
// In raw mode (another protocol: the bootloader's STK500v1 during an install) bytes pass straight through.
const REQUEST_SYNC = 0xa5; // PROTOCOL.md §4.1
const RESPONSE_SYNC = 0x5a; // §4.2
const MAX_PAYLOAD = 59; // §4.1
const E_FRAME_LENGTH = 0x02; // §6: the board then ignores bytes until the line has been quiet for 50 ms (§4.3)
const QUIET_AFTER_BAD_LENGTH_MS = 100;
// The longest a request goes unanswered before the next one goes anyway: COMMIT of 1 KB takes ~4 s on a chip, and
// a simulation starved of CPU takes longer in wall time.
const ANSWER_WAIT_MS = 30000;

export class Relay {
  constructor(send) {
    this.send = send; // (Uint8Array) -> the board
    this.queue = []; // bytes from the kernel not yet handed over
    this.waiting = false; // a request is with the board, its answer not complete
    this.answer = []; // the answer's bytes so far (from its sync byte)
    this.timer = null;
    this.raw = false;
    this.holdTimer = null; // set while nothing may be sent (a board's bootloader after a reset, §4.4)
  }

  setRaw(raw) {
    this.raw = raw;
    this.reset();
  }

  // §4.4: opening a real board's port resets it; its bootloader must get 2 s of silence, or a Mega's never ends.
  holdFor(ms) {
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.next();
    }, ms);
  }

  fromKernel(bytes) {
    if (this.raw) {
      this.send(bytes);
      return;
    }
    for (const value of bytes) this.queue.push(value);
    this.next();
  }

  flush() {
    this.queue = [];
  }

  // A new connection (or a board that went away): nothing is with the board any more.
  reset() {
    clearTimeout(this.timer);
    this.waiting = false;
    this.answer = [];
    this.queue = [];
  }

  next() {
    while (!this.waiting && !this.holdTimer && this.queue.length) {
      if (this.queue[0] !== REQUEST_SYNC) {
        this.send(Uint8Array.of(this.queue.shift())); // not a frame: the board discards it (§4.3)
        continue;
      }
      if (this.queue.length < 3) return; // the rest of the frame is on its way
      const length = 5 + this.queue[2];
      if (this.queue[2] > MAX_PAYLOAD) {
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
    if (this.raw) return;
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
    if (status === E_FRAME_LENGTH) this.holdFor(QUIET_AFTER_BAD_LENGTH_MS); // as the kernel does one by one
    else this.next();
  }

  dispose() {
    clearTimeout(this.timer);
    clearTimeout(this.holdTimer);
  }
}
