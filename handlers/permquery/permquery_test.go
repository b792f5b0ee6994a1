package permquery

import (
	"errors"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	held := map[string]bool{"docs.read": true, "docs.write": true, "api.*": true, "ANDROID.read": true}
	has := func(p string) bool { return held[p] }
	cases := []struct {
		query string
		want  bool
	}{
		{"docs.read", true},
		{"docs.delete", false},
		{"docs.read AND docs.write", true},
		{"docs.read and docs.delete", false},
		{"docs.delete OR docs.read", true},
		{"docs.delete or admin", false},
		{"docs.delete OR docs.read AND docs.write", true}, // AND binds tighter
		{"(docs.delete OR docs.read) AND admin", false},   // parentheses regroup
		{"docs.read AND (admin OR docs.write)", true},
		{"api.*", true},
		{"api.read", false},    // "*" is a literal, not a wildcard
		{"ANDROID.read", true}, // keywords only as whole words
		{"\t docs.read\r\nAND\ndocs.write ", true},
		{"((docs.read))", true},
	}
	for _, tc := range cases {
		q, err := Parse(tc.query)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		if got := q.Allows(has); got != tc.want {
			t.Fatalf("%q: allows = %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct{ query, want string }{
		{"", "Unexpected end of input. Please provide a valid permission query."},
		{"   ", "Unexpected end of input. Please provide a valid permission query."},
		{"perm AND", "Unexpected end of query. Expected a permission identifier or opening parenthesis."},
		{"AND perm", "Unexpected token 'AND' at position 0. Expected a permission identifier or opening parenthesis."},
		{"a OR or", "Unexpected token 'or' at position 5. Expected a permission identifier or opening parenthesis."},
		{"(documents.read AND documents.wr", "Missing closing parenthesis ')' at position 32. Every opening parenthesis must have a matching closing parenthesis."},
		{"documents.read AND ()", "Empty parentheses found at position 20. Parentheses must contain at least one permission or expression."},
		{"a b", "Unexpected token 'b' at position 2. The query appears to have extra content after a valid expression."},
		{"a)", "Unexpected token ')' at position 1. The query appears to have extra content after a valid expression."},
		{"docs.read & x", "Invalid character '&' found in query at position 10. Only letters, numbers, dots, underscores, hyphens, slashes, colons, asterisks, and parentheses are allowed."},
		{"(a b)", "Missing closing parenthesis ')' at position 3. Every opening parenthesis must have a matching closing parenthesis."},
	}
	for _, tc := range cases {
		_, err := Parse(tc.query)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Message != tc.want {
			t.Fatalf("%q: error = %v, want %q", tc.query, err, tc.want)
		}
	}
	if !strings.Contains(cases[5].want, "position 32") || len(cases[5].query) != 32 {
		t.Fatal("the missing-parenthesis position is the end of input")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a", "a AND b", "(a OR b) AND c", "((", "))", "a AND", "ä.ö OR ß", "\xff", "()", "a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		parsed, err := Parse(q)
		if err == nil {
			parsed.Allows(func(string) bool { return true })
			return
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Message == "" {
			t.Fatalf("%q: error %v is not a SyntaxError", q, err)
		}
	})
}
