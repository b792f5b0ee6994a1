// Package permquery parses and evaluates the permissions query of
// keys.verifyKey: permission slugs combined with AND and OR (AND binds
// tighter, both left-associative) and parentheses, e.g.
// "documents.read AND (documents.write OR admin)".
//
// Matching is exact string equality, as in Unkey: "*" is an ordinary
// character, so "api.*" matches only a permission literally named "api.*".
// Error messages and their 0-based byte positions are Unkey's, because
// clients surface them to their users.
package permquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Query is a parsed permissions query.
type Query interface {
	// Allows reports whether a holder of the permissions has() accepts
	// satisfies the query.
	Allows(has func(permission string) bool) bool
}

// Permission is a leaf: one slug that must be held.
type Permission string

// And holds when every operand holds.
type And []Query

// Or holds when at least one operand holds.
type Or []Query

func (p Permission) Allows(has func(string) bool) bool { return has(string(p)) }

func (a And) Allows(has func(string) bool) bool {
	for _, q := range a {
		if !q.Allows(has) {
			return false
		}
	}
	return true
}

func (o Or) Allows(has func(string) bool) bool {
	for _, q := range o {
		if q.Allows(has) {
			return true
		}
	}
	return false
}

// SyntaxError is a malformed query; Message is the client-facing text.
type SyntaxError struct{ Message string }

func (e *SyntaxError) Error() string { return e.Message }

type kind int

const (
	tokPerm kind = iota
	tokAnd
	tokOr
	tokOpen
	tokClose
	tokEOF
)

type token struct {
	kind kind
	text string
	pos  int
}

func isPermChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-:*/", r)
}

func lex(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		r, size := utf8.DecodeRuneInString(q[i:])
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			i += size
		case r == '(':
			toks = append(toks, token{tokOpen, "(", i})
			i++
		case r == ')':
			toks = append(toks, token{tokClose, ")", i})
			i++
		case isPermChar(r) && r != utf8.RuneError:
			start := i
			for i < len(q) {
				r, size = utf8.DecodeRuneInString(q[i:])
				if r == utf8.RuneError || !isPermChar(r) {
					break
				}
				i += size
			}
			text := q[start:i]
			k := tokPerm
			if strings.EqualFold(text, "AND") {
				k = tokAnd
			} else if strings.EqualFold(text, "OR") {
				k = tokOr
			}
			toks = append(toks, token{k, text, start})
		default:
			return nil, &SyntaxError{fmt.Sprintf("Invalid character '%c' found in query at position %d. Only letters, numbers, dots, underscores, hyphens, slashes, colons, asterisks, and parentheses are allowed.", r, i)}
		}
	}
	return append(toks, token{tokEOF, "", len(q)}), nil
}

type parser struct {
	toks []token
	at   int
}

func (p *parser) cur() token { return p.toks[p.at] }

// Parse parses q, or returns a *SyntaxError.
func Parse(q string) (Query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, &SyntaxError{"Unexpected end of input. Please provide a valid permission query."}
	}
	p := &parser{toks: toks}
	out, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.cur(); t.kind != tokEOF {
		return nil, &SyntaxError{fmt.Sprintf("Unexpected token '%s' at position %d. The query appears to have extra content after a valid expression.", t.text, t.pos)}
	}
	return out, nil
}

func (p *parser) or() (Query, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := Or{first}
	for p.cur().kind == tokOr {
		p.at++
		next, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, next)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return terms, nil
}

func (p *parser) and() (Query, error) {
	first, err := p.primary()
	if err != nil {
		return nil, err
	}
	terms := And{first}
	for p.cur().kind == tokAnd {
		p.at++
		next, err := p.primary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, next)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return terms, nil
}

func (p *parser) primary() (Query, error) {
	t := p.cur()
	switch t.kind {
	case tokPerm:
		p.at++
		return Permission(t.text), nil
	case tokOpen:
		p.at++
		if c := p.cur(); c.kind == tokClose {
			return nil, &SyntaxError{fmt.Sprintf("Empty parentheses found at position %d. Parentheses must contain at least one permission or expression.", c.pos)}
		}
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.cur(); c.kind != tokClose {
			return nil, &SyntaxError{fmt.Sprintf("Missing closing parenthesis ')' at position %d. Every opening parenthesis must have a matching closing parenthesis.", c.pos)}
		}
		p.at++
		return inner, nil
	case tokEOF:
		return nil, &SyntaxError{"Unexpected end of query. Expected a permission identifier or opening parenthesis."}
	default:
		return nil, &SyntaxError{fmt.Sprintf("Unexpected token '%s' at position %d. Expected a permission identifier or opening parenthesis.", t.text, t.pos)}
	}
}
