// The page side of bingo_kit.board.page (anywidgets): the boards a kernel reaches through the notebook page.
//   kind "uno"     the Simulated Uno in the page (uno-board.js: the receiver in avr8js, in a Web Worker)
//   kind "serial"  a real board on the student's desk, through Web Serial (serial-board.js)
// The kernel speaks the whole protocol (hardware/PROTOCOL.md); the page moves bytes (link.js, relay.js).
import "./define-once.js"; // before the Uno element: a second copy of this module must not define it again
import "@wokwi/elements/dist/esm/arduino-uno-element.js";
import "./define-restore.js";
import { SerialBoard, renderSerial } from "./serial-board.js";
import { UnoBoard, renderUno } from "./uno-board.js";

// instance -> its board (one per model, however many views). anywidget hands initialize() and each render() a
// different wrapper of the same model, so the kernel gives each one an id to find it by.
const boards = new Map();

function initialize({ model }) {
  const board = model.get("kind") === "serial" ? new SerialBoard(model) : new UnoBoard(model);
  const instance = model.get("instance");
  boards.set(instance, board);
  return () => {
    board.dispose();
    if (boards.get(instance) === board) boards.delete(instance);
  };
}

function render({ model, el }) {
  const board = boards.get(model.get("instance"));
  if (!board) {
    el.textContent = "The board did not start in this page: reload the page.";
    return undefined;
  }
  return board instanceof SerialBoard ? renderSerial(board, el) : renderUno(board, el);
}

export default { initialize, render };
