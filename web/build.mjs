// build.mjs bundles every page of src/pages/ (one entry per page: NAME.ts,
// with the CSS it imports) into ../handlers/httpapi/web/dist/NAME.js and
// NAME.css. The output is committed and embedded in the binary, so the build
// must be byte-for-byte reproducible: no timestamps, no absolute paths, no
// content hashes in file names (the Go package versions the URLs itself).
import * as esbuild from "esbuild";
import { readdirSync, rmSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "..", "handlers", "httpapi", "web", "dist");
const pages = readdirSync(path.join(here, "src", "pages"))
  .filter((f) => f.endsWith(".ts"))
  .sort()
  .map((f) => path.join(here, "src", "pages", f));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

await esbuild.build({
  absWorkingDir: here,
  entryPoints: pages,
  outdir,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox110", "safari16"],
  legalComments: "none",
  charset: "utf8",
  sourcemap: false,
  logLevel: "warning",
});
