// Package events is keyline's domain: the events that make up the durable log,
// the aggregates that fold them into state, and the decisions that turn a
// command into new events.
//
// Nothing here does I/O. Stores, projections and HTTP handlers depend on this
// package; it depends on none of them, so every rule about what may happen to
// a workspace, a root key or an API is testable as plain given-events /
// when-command / then-events tables.
//
// Every event type carries an explicit, stable name and version
// ("api.created" v1). Names are never derived from Go type names, so renaming
// a type cannot orphan the events already in a log. Fields may only be added;
// a breaking change gets a new version and a decoder for the old one ships
// first.
//
// Stream names come from one family of helpers so that every writer of a
// stream spells it alike: XStreamID(id) names the stream of one aggregate,
// XStreamIDFor(workspaceID, key) the stream of a unique key (a slug, a name,
// an externalId) that successive aggregates holding that key share, and
// XIDFor derives an aggregate's ID from such a key.
package events
