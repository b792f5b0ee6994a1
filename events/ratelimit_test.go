package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRatelimitNamespaceDecisions(t *testing.T) {
	var ns RatelimitNamespace
	evs, err := ns.Create("ws_a", " spaced name ")
	if err != nil {
		t.Fatal(err)
	}
	created := RatelimitNamespaceCreated{NamespaceID: RatelimitNamespaceIDFor("ws_a", " spaced name "), WorkspaceID: "ws_a", Name: " spaced name "}
	if !reflect.DeepEqual(evs, []Event{created}) {
		t.Fatalf("events = %#v", evs)
	}
	if !strings.HasPrefix(created.NamespaceID, "rlns_") ||
		RatelimitNamespaceIDFor("ws_a", "n") == RatelimitNamespaceIDFor("ws_b", "n") ||
		RatelimitNamespaceIDFor("ws_a", "n") == RatelimitNamespaceIDFor("ws_a", "n ") {
		t.Fatal("namespace IDs must derive from workspace and untrimmed name")
	}
	ns.Apply(created)
	if _, err := ns.Create("ws_a", " spaced name "); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := ns.Delete("ws_b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete from another workspace: %v", err)
	}
	evs, err = ns.Delete("ws_a")
	if err != nil || !reflect.DeepEqual(evs, []Event{RatelimitNamespaceDeleted{NamespaceID: created.NamespaceID, WorkspaceID: "ws_a"}}) {
		t.Fatalf("delete: %#v %v", evs, err)
	}
	ns.Apply(evs[0])
	if _, err := ns.Create("ws_a", " spaced name "); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("a deleted namespace must not be recreated: %v", err)
	}
}

func TestRatelimitOverrideDecisions(t *testing.T) {
	var o RatelimitOverride
	set := RatelimitOverrideSet{NamespaceID: "rlns_1", WorkspaceID: "ws_a", Identifier: "user_*", Limit: 5, DurationMs: 1000}
	evs, err := o.Set(set)
	if err != nil || len(evs) != 1 {
		t.Fatalf("set: %#v %v", evs, err)
	}
	first := evs[0].(RatelimitOverrideSet)
	if first.OverrideID != RatelimitOverrideIDFor("rlns_1", "user_*") || !strings.HasPrefix(first.OverrideID, "rlor_") {
		t.Fatalf("override id = %q", first.OverrideID)
	}
	o.Apply(first)
	if evs, _ := o.Set(set); evs != nil {
		t.Fatalf("setting the same values again appended %#v", evs)
	}
	set.Limit = 7
	evs, _ = o.Set(set)
	if len(evs) != 1 || evs[0].(RatelimitOverrideSet).OverrideID != first.OverrideID {
		t.Fatalf("an update must keep the override id: %#v", evs)
	}
	o.Apply(evs[0])
	if o.Limit != 7 {
		t.Fatalf("limit = %d", o.Limit)
	}
	evs, err = o.Delete("ws_a")
	if err != nil || len(evs) != 1 {
		t.Fatalf("delete: %v", err)
	}
	o.Apply(evs[0])
	if _, err := o.Delete("ws_a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	evs, _ = o.Set(set)
	if len(evs) != 1 {
		t.Fatal("setting a deleted override again must revive it")
	}
}

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything at all", true},
		{"user_*", "user_", true}, {"user_*", "user_42", true}, {"user_*", "xuser_42", false},
		{"*_admin", "bob_admin", true}, {"*_admin", "bob_admin2", false},
		{"a*b*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbYcZ", false}, {"a*b*c", "acb", false},
		{"a**b", "ab", true}, {"exact", "exact", true}, {"exact", "exactly", false},
		{"*ab", "aab", true}, {"*aab", "aaab", true}, {"ä*", "äöü", true},
	}
	for _, tc := range cases {
		if got := WildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("WildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestOverridePrecedence(t *testing.T) {
	m := NewOverrideMatcher([]OverrideRule{
		{ID: "all", Identifier: "*"},
		{ID: "user", Identifier: "user_*"},
		{ID: "user_admin", Identifier: "user_*_admin"},
		{ID: "exact", Identifier: "user_42"},
		{ID: "literal_star", Identifier: "user_*x"},
		{ID: "tie_b", Identifier: "b*"},
		{ID: "tie_a", Identifier: "*a"},
	})
	cases := map[string]string{
		"user_42":       "exact",        // exact beats any wildcard
		"user_7":        "user",         // user_* (5 literals) beats *
		"user_7_admin":  "user_admin",   // 11 literals beat 5
		"user_*x":       "literal_star", // an identifier equal to a pattern is an exact match
		"user_7x":       "literal_star", // user_*x (6) beats user_* (5)
		"ba":            "tie_a",        // *a and b* both have 1 literal: "*a" < "b*"
		"somebody else": "all",
	}
	for id, want := range cases {
		r, ok := m.Match(id)
		if !ok || r.ID != want {
			t.Errorf("Match(%q) = %q (%v), want %q", id, r.ID, ok, want)
		}
	}
	none := NewOverrideMatcher([]OverrideRule{{ID: "x", Identifier: "x_*"}})
	if _, ok := none.Match("y"); ok {
		t.Error("matched without a matching override")
	}
	var nilMatcher *OverrideMatcher
	if _, ok := nilMatcher.Match("y"); ok || nilMatcher.Len() != 0 {
		t.Error("a nil matcher matches nothing")
	}
}
