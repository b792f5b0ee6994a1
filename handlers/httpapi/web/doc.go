// Package web serves keyline's browser pages (the admin console at
// /console, the customer portal at /portal) from assets embedded in the
// binary, so a deployment needs no CDN, no Node.js and no second server.
//
// The pages are plain TypeScript bundled by esbuild: sources live in web/
// at the repository root, `make web` writes the bundles to dist/ here, and
// dist/ is committed (check-generate fails when it is stale), so `go build`
// works without Node.js. Every page is one HTML document (rendered once,
// at start), one script and one stylesheet, all same-origin; the pages call
// keyline's own /v2 API with fetch.
//
// Security headers (see headers.go) are set on every page and asset: a
// Content-Security-Policy that allows only same-origin scripts, styles and
// fetches (no inline script or style, no third-party origin, no framing),
// nosniff, and no Referer (the portal's URL carries a one-time code).
// Assets are served under a name that carries a hash of their content
// (/ui/console.3fa2b1c4d5e6.js) and cached for a year; pages are never
// cached, so a new binary's pages point at its new assets at once.
//
// # Adding a page
//
//  1. Write web/src/pages/NAME.ts (it runs once the document is parsed;
//     render into document.getElementById("app")). Import
//     "../lib/base.css" and whatever else it needs from web/src/lib
//     (dom.ts builds elements without innerHTML, api.ts calls /v2,
//     chart.ts draws the SVG bar chart, format.ts prints times).
//     build.mjs bundles every file of web/src/pages into dist/NAME.js and
//     dist/NAME.css.
//  2. Add one line to Pages in pages.go: its path, title and NAME.
//  3. Run `make web` and commit web/ and dist/ together. The router
//     registers every page and asset through Routes; nothing else changes.
//  4. Test it in a real browser: cmd/keyline's runBrowser (browser_test.go)
//     runs a node script of cmd/keyline/testdata/browser against a started
//     server and fails on any page error, console error or failed request.
package web
