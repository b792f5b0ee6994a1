package analyticsql

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	tEOF tokenKind = iota
	tIdent
	tQuotedIdent // `x` or "x": never a keyword
	tNumber
	tString
	tOp // punctuation and operators
)

type token struct {
	kind tokenKind
	text string // identifier or operator as written; string literals decoded
	pos  int    // byte offset in the query, for messages
}

// keyword reports whether t is the bare (unquoted) keyword kw, in any case.
func (t token) keyword(kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (t token) op(op string) bool { return t.kind == tOp && t.text == op }

// lex splits the query into tokens. Comments (-- to the end of the line, /*
// */) are dropped like whitespace: the query ClickHouse runs is printed from
// the parsed tree, so nothing a comment held can reach it. Anything the
// lexer does not know, including an unterminated string, quoted identifier
// or comment, is a syntax error.
func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, syntaxf(i, "unterminated comment")
			}
			i += end + 4
		case isIdentStart(c):
			start := i
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			out = append(out, token{kind: tIdent, text: src[start:i], pos: start})
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			start := i
			n, err := lexNumber(src[i:])
			if err != nil {
				return nil, syntaxf(start, "%v", err)
			}
			i += n
			out = append(out, token{kind: tNumber, text: src[start:i], pos: start})
		case c == '\'':
			s, n, err := lexQuoted(src[i:], '\'')
			if err != nil {
				return nil, syntaxf(i, "%v", err)
			}
			out = append(out, token{kind: tString, text: s, pos: i})
			i += n
		case c == '`' || c == '"':
			s, n, err := lexQuoted(src[i:], c)
			if err != nil {
				return nil, syntaxf(i, "%v", err)
			}
			if s == "" {
				return nil, syntaxf(i, "empty quoted identifier")
			}
			out = append(out, token{kind: tQuotedIdent, text: s, pos: i})
			i += n
		default:
			op := lexOp(src[i:])
			if op == "" {
				return nil, syntaxf(i, "unexpected character %q", rune(c))
			}
			out = append(out, token{kind: tOp, text: op, pos: i})
			i += len(op)
		}
	}
	return append(out, token{kind: tEOF, pos: len(src)}), nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// lexNumber reads a decimal number (123, 1.5, .5, 1e3, 2.5E-2) or a
// hexadecimal integer (0x1F) and returns its length. A number running into
// letters ("12abc") is an error rather than two tokens.
func lexNumber(s string) (int, error) {
	i := 0
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		i = 2
		for i < len(s) && isHex(s[i]) {
			i++
		}
		if i == 2 {
			return 0, fmt.Errorf("malformed hexadecimal number")
		}
	} else {
		digits := func() int {
			n := 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
				n++
			}
			return n
		}
		whole := digits()
		frac := 0
		if i < len(s) && s[i] == '.' {
			i++
			frac = digits()
		}
		if whole+frac == 0 {
			return 0, fmt.Errorf("malformed number")
		}
		if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
			i++
			if i < len(s) && (s[i] == '+' || s[i] == '-') {
				i++
			}
			if digits() == 0 {
				return 0, fmt.Errorf("malformed exponent")
			}
		}
	}
	if i < len(s) && (isIdentPart(s[i]) || s[i] == '.') {
		return 0, fmt.Errorf("malformed number")
	}
	return i, nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// lexQuoted decodes a quoted string or identifier starting at s[0] == q. It
// understands ClickHouse's escapes: a doubled quote and the backslash
// sequences. It returns the decoded text and the length consumed.
func lexQuoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i += 2
				continue
			}
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated quoted text")
			}
			e := s[i+1]
			i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'a':
				b.WriteByte('\a')
			case 'v':
				b.WriteByte('\v')
			case 'x':
				if i+1 >= len(s) || !isHex(s[i]) || !isHex(s[i+1]) {
					return "", 0, fmt.Errorf("malformed \\x escape")
				}
				b.WriteByte(unhex(s[i])<<4 | unhex(s[i+1]))
				i += 2
			default:
				// \\, \', \`, \" and any other character stand for themselves.
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted text")
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// ops are the operators and punctuation the grammar uses, longest first.
var ops = []string{"<=", ">=", "!=", "<>", "==", "||", "(", ")", ",", ".", "*", "/", "%", "+", "-", "=", "<", ">", "[", "]", ";"}

func lexOp(s string) string {
	for _, op := range ops {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}
