// Package runtime assembles keyline's processes: the API server, and the
// administrative commands (bootstrap, replay) that act on the same store;
// and it holds the process settings a server runs with (TuneGC).
//
// It is the composition layer beside wire.go and, like it, may import every
// other package; no other infra package imports handlers or projections.
// Each type here holds the parts wire built and knows the order in which a
// process starts them and stops them.
package runtime
