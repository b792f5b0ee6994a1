package web

import "net/http"

// csp allows the pages exactly what they use: their own script, stylesheet
// and API (same origin), and data: images (the empty favicon, which keeps
// browsers from requesting /favicon.ico). No inline script or style, no
// eval, no other origin, no framing, no <base> and no form submission (the
// pages send everything with fetch: a form that slipped past its handler
// must not carry a root key anywhere).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// secure sets the headers every page and asset carries.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // for browsers that predate frame-ancestors
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}
