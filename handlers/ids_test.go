package handlers

import (
	"strings"
	"testing"
)

// IDs have the documented shape, use only the alphabet, and every character
// of the alphabet comes up about equally often (the rejection sampling in
// randomString exists for that: 256 is not a multiple of 62).
func TestRandomStringShapeAndSpread(t *testing.T) {
	if id := NewID("key"); !strings.HasPrefix(id, "key_") || len(id) != 4+16 {
		t.Fatalf("NewID: %q", id)
	}
	seen := map[string]bool{}
	for range 2000 {
		id := NewRequestID()
		if !strings.HasPrefix(id, "req_") || len(id) != 4+9 || strings.Trim(id[4:], idAlphabet) != "" || seen[id] {
			t.Fatalf("NewRequestID: %q (outside the shape, or repeated)", id)
		}
		seen[id] = true
	}
	const draws = 62 * 2000
	counts := map[rune]int{}
	for _, c := range randomString(draws, idAlphabet) {
		if !strings.ContainsRune(idAlphabet, c) {
			t.Fatalf("character %q outside the alphabet", c)
		}
		counts[c]++
	}
	if len(counts) != len(idAlphabet) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(idAlphabet))
	}
	// Expected 2000 each, standard deviation about 44: 1700..2300 is
	// more than six of them, so this does not flake, yet a bias towards
	// the first 8 characters (what plain modulo gives, +3 %) over many
	// runs, or a stuck generator, would show.
	for c, n := range counts {
		if n < 1700 || n > 2300 {
			t.Errorf("%q drawn %d times of %d, want about 2000", c, n, draws)
		}
	}
}

func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRequestID()
	}
}
