package events

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf8"
)

// RatelimitNamespaceCreated opens a namespace: the scope rate-limit counters
// and overrides live in. ratelimit.limit creates one on first use.
type RatelimitNamespaceCreated struct {
	NamespaceID string `json:"namespaceId"`
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
}

func (RatelimitNamespaceCreated) EventName() string { return "ratelimit_namespace.created" }
func (RatelimitNamespaceCreated) EventVersion() int { return 1 }
func (e *RatelimitNamespaceCreated) value() Event   { return *e }

// RatelimitNamespaceDeleted soft-deletes a namespace: limits in it answer
// 410 from then on and it is never auto-created again.
type RatelimitNamespaceDeleted struct {
	NamespaceID string `json:"namespaceId"`
	WorkspaceID string `json:"workspaceId"`
}

func (RatelimitNamespaceDeleted) EventName() string { return "ratelimit_namespace.deleted" }
func (RatelimitNamespaceDeleted) EventVersion() int { return 1 }
func (e *RatelimitNamespaceDeleted) value() Event   { return *e }

// RatelimitOverrideSet creates or replaces the override of one identifier
// pattern in a namespace. It carries both limit and duration because an
// override replaces the request's pair as a whole.
type RatelimitOverrideSet struct {
	OverrideID  string `json:"overrideId"`
	NamespaceID string `json:"namespaceId"`
	WorkspaceID string `json:"workspaceId"`
	Identifier  string `json:"identifier"`
	Limit       int64  `json:"limit"`
	DurationMs  int64  `json:"durationMs"`
}

func (RatelimitOverrideSet) EventName() string { return "ratelimit_override.set" }
func (RatelimitOverrideSet) EventVersion() int { return 1 }
func (e *RatelimitOverrideSet) value() Event   { return *e }

// RatelimitOverrideDeleted soft-deletes an override.
type RatelimitOverrideDeleted struct {
	OverrideID  string `json:"overrideId"`
	NamespaceID string `json:"namespaceId"`
	WorkspaceID string `json:"workspaceId"`
	Identifier  string `json:"identifier"`
}

func (RatelimitOverrideDeleted) EventName() string { return "ratelimit_override.deleted" }
func (RatelimitOverrideDeleted) EventVersion() int { return 1 }
func (e *RatelimitOverrideDeleted) value() Event   { return *e }

func init() {
	register(func() Event { return &RatelimitNamespaceCreated{} })
	register(func() Event { return &RatelimitNamespaceDeleted{} })
	register(func() Event { return &RatelimitOverrideSet{} })
	register(func() Event { return &RatelimitOverrideDeleted{} })
}

// RatelimitNamespaceIDFor derives a namespace's ID from its workspace and
// name. Auto-creation happens on the hot path of every node at once; because
// all of them aim at the same stream, its version check lets exactly one
// creation win and the others find the namespace already there. Names are
// used as given (no trimming): Unkey accepts any characters in them.
func RatelimitNamespaceIDFor(workspaceID, name string) string {
	sum := sha256.Sum256([]byte("ratelimit_namespace:" + workspaceID + "\x00" + name))
	return "rlns_" + hex.EncodeToString(sum[:])[:16]
}

// RatelimitOverrideIDFor derives an override's ID from its namespace and
// identifier pattern, which is what makes setOverride an upsert: setting the
// same identifier again, even concurrently, lands on the same stream and ID.
func RatelimitOverrideIDFor(namespaceID, identifier string) string {
	sum := sha256.Sum256([]byte("ratelimit_override:" + namespaceID + "\x00" + identifier))
	return "rlor_" + hex.EncodeToString(sum[:])[:16]
}

// RatelimitNamespaceStreamID names the stream of one namespace.
func RatelimitNamespaceStreamID(namespaceID string) string {
	return "ratelimit_namespace-" + namespaceID
}

// RatelimitOverrideStreamID names the stream of one override.
func RatelimitOverrideStreamID(overrideID string) string { return "ratelimit_override-" + overrideID }

// RatelimitNamespace is the folded state of a namespace stream.
type RatelimitNamespace struct {
	ID          string
	WorkspaceID string
	Name        string
	Deleted     bool
	Version     int64
}

// Apply folds one event into the state.
func (n *RatelimitNamespace) Apply(e Event) {
	switch e := e.(type) {
	case RatelimitNamespaceCreated:
		n.ID, n.WorkspaceID, n.Name = e.NamespaceID, e.WorkspaceID, e.Name
	case RatelimitNamespaceDeleted:
		n.Deleted = true
	}
	n.Version++
}

// Create decides the creation of the namespace called name in workspaceID.
func (n *RatelimitNamespace) Create(workspaceID, name string) ([]Event, error) {
	if n.Version > 0 {
		return nil, ErrAlreadyExists
	}
	return []Event{RatelimitNamespaceCreated{NamespaceID: RatelimitNamespaceIDFor(workspaceID, name),
		WorkspaceID: workspaceID, Name: name}}, nil
}

// Delete decides a soft delete requested from workspaceID.
func (n *RatelimitNamespace) Delete(workspaceID string) ([]Event, error) {
	if n.Version == 0 || n.Deleted || n.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	return []Event{RatelimitNamespaceDeleted{NamespaceID: n.ID, WorkspaceID: n.WorkspaceID}}, nil
}

// RatelimitOverride is the folded state of an override stream.
type RatelimitOverride struct {
	ID          string
	NamespaceID string
	WorkspaceID string
	Identifier  string
	Limit       int64
	DurationMs  int64
	Deleted     bool
	Version     int64
}

// Apply folds one event into the state.
func (o *RatelimitOverride) Apply(e Event) {
	switch e := e.(type) {
	case RatelimitOverrideSet:
		o.ID, o.NamespaceID, o.WorkspaceID, o.Identifier = e.OverrideID, e.NamespaceID, e.WorkspaceID, e.Identifier
		o.Limit, o.DurationMs, o.Deleted = e.Limit, e.DurationMs, false
	case RatelimitOverrideDeleted:
		o.Deleted = true
	}
	o.Version++
}

// Set decides an upsert. Setting exactly what is already there changes
// nothing, so repeated calls do not grow the log.
func (o *RatelimitOverride) Set(s RatelimitOverrideSet) ([]Event, error) {
	s.OverrideID = RatelimitOverrideIDFor(s.NamespaceID, s.Identifier)
	if o.Version > 0 && !o.Deleted && o.Limit == s.Limit && o.DurationMs == s.DurationMs {
		return nil, nil
	}
	return []Event{s}, nil
}

// Delete decides a soft delete requested from workspaceID.
func (o *RatelimitOverride) Delete(workspaceID string) ([]Event, error) {
	if o.Version == 0 || o.Deleted || o.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	return []Event{RatelimitOverrideDeleted{OverrideID: o.ID, NamespaceID: o.NamespaceID,
		WorkspaceID: o.WorkspaceID, Identifier: o.Identifier}}, nil
}

// OverrideRule is an override as matching needs it.
type OverrideRule struct {
	ID         string
	Identifier string
	Limit      int64
	DurationMs int64
}

// OverrideMatcher picks the override that applies to an identifier.
//
// Precedence: an override whose identifier equals the requested one wins
// (a literal lookup, even when the override's identifier contains '*').
// Otherwise, among the overrides whose '*' pattern matches the whole
// identifier ('*' is any sequence of characters, possibly empty), the most
// specific wins: the one with the most literal (non-'*') characters, and on a
// tie the lexicographically smallest identifier. Unkey takes "the first
// match in database order", which is unspecified; keyline fixes a rule so
// that every node and every restart picks the same override.
type OverrideMatcher struct {
	exact map[string]OverrideRule
	// wildcards are sorted by precedence, so the first match is the answer.
	wildcards []OverrideRule
}

// NewOverrideMatcher indexes rules once; matching is then a map lookup plus
// a scan of the wildcard patterns only.
func NewOverrideMatcher(rules []OverrideRule) *OverrideMatcher {
	m := &OverrideMatcher{exact: make(map[string]OverrideRule, len(rules))}
	for _, r := range rules {
		m.exact[r.Identifier] = r
		if strings.Contains(r.Identifier, "*") {
			m.wildcards = append(m.wildcards, r)
		}
	}
	slices.SortFunc(m.wildcards, func(a, b OverrideRule) int {
		if c := cmp.Compare(literalChars(b.Identifier), literalChars(a.Identifier)); c != 0 {
			return c
		}
		return strings.Compare(a.Identifier, b.Identifier)
	})
	return m
}

// Match returns the override that applies to identifier, if any.
func (m *OverrideMatcher) Match(identifier string) (OverrideRule, bool) {
	if m == nil {
		return OverrideRule{}, false
	}
	if r, ok := m.exact[identifier]; ok {
		return r, true
	}
	for _, r := range m.wildcards {
		if WildcardMatch(r.Identifier, identifier) {
			return r, true
		}
	}
	return OverrideRule{}, false
}

// Len is the number of overrides indexed.
func (m *OverrideMatcher) Len() int {
	if m == nil {
		return 0
	}
	return len(m.exact)
}

func literalChars(pattern string) int {
	return utf8.RuneCountInString(pattern) - strings.Count(pattern, "*")
}

// WildcardMatch reports whether s matches pattern as a whole, where '*' is
// any sequence of bytes and every other byte is literal. It backtracks only
// to the last '*', so it runs in O(len(pattern)*len(s)) at worst and linear
// time in practice, whatever the input.
func WildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
