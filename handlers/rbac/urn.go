// Package rbac matches root-key grants written in Unkey's resource grammar,
// "unkey:v1:<workspaceId>:<resource/path>#<action>", against the permission
// a handler requires in the same grammar.
//
// It lives apart from the legacy tuples ("api.*.read_key"), which match by
// exact string equality and need no parser: only this grammar has wildcards,
// and keeping the matcher in one small pure package is what lets a single
// table test pin its rules.
package rbac

import "strings"

// Prefix starts every resource permission; anything else is a legacy tuple.
const Prefix = "unkey:v1:"

// URN renders the permission a handler requires on one resource.
func URN(workspaceID, path, action string) string {
	return Prefix + workspaceID + ":" + path + "#" + action
}

// IsURN reports whether perm uses the resource grammar.
func IsURN(perm string) bool { return strings.HasPrefix(perm, Prefix) }

// Grant is a parsed resource permission held by a root key.
type Grant struct {
	workspace string
	segments  []string
	// descendants: the path ended in "**", which matches the base path and
	// everything below it.
	descendants bool
	action      string
}

// Parse reads a granted resource permission. ok is false for strings that
// are not well-formed, which then grant nothing: a typo must never widen a
// grant. The action "*" is accepted only on the resource "**" (the admin
// grant), as in Unkey.
func Parse(s string) (Grant, bool) {
	if !IsURN(s) {
		return Grant{}, false
	}
	rest := s[len(Prefix):]
	ws, rest, ok := strings.Cut(rest, ":")
	if !ok || ws == "" {
		return Grant{}, false
	}
	path, action, ok := strings.Cut(rest, "#")
	if !ok || path == "" || action == "" || strings.Contains(action, "#") {
		return Grant{}, false
	}
	g := Grant{workspace: ws, action: action}
	segs := strings.Split(path, "/")
	if segs[len(segs)-1] == "**" {
		g.descendants = true
		segs = segs[:len(segs)-1]
	}
	for _, seg := range segs {
		if seg == "" || seg == "**" {
			return Grant{}, false // "**" only at the end; no empty segments
		}
	}
	if action == "*" && !(g.descendants && len(segs) == 0) {
		return Grant{}, false
	}
	g.segments = segs
	return g, true
}

// Allows reports whether the grant covers the required permission, itself a
// URN (see URN). The workspace must match exactly; "*" in the grant matches
// exactly one path segment; a trailing "**" matches the base path and all
// its descendants.
func (g Grant) Allows(required string) bool {
	if !IsURN(required) {
		return false
	}
	rest := required[len(Prefix):]
	ws, rest, ok := strings.Cut(rest, ":")
	if !ok || ws != g.workspace {
		return false
	}
	path, action, ok := strings.Cut(rest, "#")
	if !ok || (g.action != "*" && g.action != action) {
		return false
	}
	req := strings.Split(path, "/")
	if len(req) < len(g.segments) || (!g.descendants && len(req) != len(g.segments)) {
		return false
	}
	for i, seg := range g.segments {
		if seg != "*" && seg != req[i] {
			return false
		}
	}
	return true
}
