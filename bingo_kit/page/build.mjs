// Builds the page side of bingo-kit into dist/page.js: one ES module (what anywidget loads) with the Web Worker's
// code inside it as text, so a classroom needs no CDN and no second file. Run by `make page` after `npm ci`;
// tests/test_page_bundle.py rebuilds it and fails when the committed dist/page.js is stale.
import * as esbuild from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist", "page.js");
const common = { bundle: true, minify: true, legalComments: "eof", target: "es2020", logLevel: "warning" };

const worker = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "worker.js")],
  format: "iife",
  write: false,
});
const page = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "widget.js")],
  format: "esm",
  write: false,
  plugins: [
    {
      name: "worker-as-text",
      setup(build) {
        build.onResolve({ filter: /worker\.bundle\.js\.txt$/ }, (args) => ({ path: args.path, namespace: "worker" }));
        build.onLoad({ filter: /.*/, namespace: "worker" }, () => ({
          contents: worker.outputFiles[0].text,
          loader: "text",
        }));
      },
    },
  ],
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, page.outputFiles[0].text);
console.log(`wrote ${out} (${page.outputFiles[0].text.length} bytes)`);
