"""The browser side of the kit, vendored: dist/page.js is the Simulated Uno in the page (avr8js in a Web Worker) and
the drawn board, built from src/ by build.mjs with the npm packages pinned in package-lock.json (`make page`).
bingo_kit.board.page is its Python side. Nothing here is fetched at run time."""
