package analyticsql

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// val prints e where a value is expected. PostgreSQL has a boolean type
// where ClickHouse answers 0 or 1: a comparison becomes a number there.
func (lp *localPrinter) val(e expr, lv *level) (string, ltype, error) {
	sql, t, err := lp.ex(e, lv)
	if err != nil {
		return "", 0, err
	}
	if t == lBool && lp.d == Postgres {
		return "(CASE WHEN " + sql + " THEN 1 ELSE 0 END)", lInt, nil
	}
	if t == lBool {
		return sql, lInt, nil
	}
	return sql, t, nil
}

// cond prints e where a condition is expected: ClickHouse takes any number
// as one (non-zero is true), PostgreSQL only booleans.
func (lp *localPrinter) cond(e expr, lv *level) (string, error) {
	sql, t, err := lp.ex(e, lv)
	if err != nil {
		return "", err
	}
	switch t {
	case lBool:
		return sql, nil
	case lInt, lFloat, lNull:
		if lp.d == Postgres {
			return "(" + sql + " <> 0)", nil
		}
		return sql, nil
	}
	return "", unsupported("%s used as a condition", describe(e))
}

// ex prints e and infers its type.
func (lp *localPrinter) ex(e expr, lv *level) (string, ltype, error) {
	if err := checkUnixTimestamps(e); err != nil {
		return "", 0, err
	}
	if folded, t, ok := lp.fold(e); ok {
		return folded, t, nil
	}
	switch e := e.(type) {
	case columnRef:
		return lp.column(e, lv)
	case numberLit:
		if strings.HasPrefix(strings.ToLower(e.text), "0x") {
			return "", 0, unsupported("hexadecimal number %s", e.text)
		}
		if strings.ContainsAny(e.text, ".eE") {
			return e.text, lFloat, nil
		}
		if _, err := strconv.ParseInt(e.text, 10, 64); err != nil {
			return "", 0, unsupported("number %s beyond 64 bits", e.text)
		}
		return e.text, lInt, nil
	case stringLit:
		if strings.IndexByte(e.value, 0) >= 0 {
			return "", 0, unsupported("a string holding the NUL character")
		}
		return lp.str(e.value), lStr, nil
	case nullLit:
		return "NULL", lNull, nil
	case unary:
		if e.op == "NOT" {
			x, err := lp.cond(e.x, lv)
			if err != nil {
				return "", 0, err
			}
			return "(NOT " + x + ")", lBool, nil
		}
		x, t, err := lp.val(e.x, lv)
		if err != nil {
			return "", 0, err
		}
		if t != lInt && t != lFloat {
			return "", 0, unsupported("minus of %s", describe(e.x))
		}
		return "(-" + x + ")", t, nil
	case binary:
		return lp.binary(e, lv)
	case inExpr:
		return lp.in(e, lv)
	case betweenExpr:
		lo, err := lp.compare(">=", e.x, e.lo, lv)
		if err != nil {
			return "", 0, err
		}
		hi, err := lp.compare("<=", e.x, e.hi, lv)
		if err != nil {
			return "", 0, err
		}
		sql := "(" + lo + " AND " + hi + ")"
		if e.not {
			sql = "(NOT " + sql + ")"
		}
		return sql, lBool, nil
	case isNullExpr:
		x, _, err := lp.val(e.x, lv)
		if err != nil {
			return "", 0, err
		}
		if e.not {
			return "(" + x + " IS NOT NULL)", lBool, nil
		}
		return "(" + x + " IS NULL)", lBool, nil
	case subqueryExpr:
		sql, cols, err := lp.query(e.q)
		if err != nil {
			return "", 0, err
		}
		if len(cols) != 1 {
			return "", 0, unsupported("a scalar subquery with %d columns", len(cols))
		}
		return "(" + sql + ")", cols[0].typ, nil
	case call:
		return lp.call(e, lv)
	}
	return "", 0, unsupported("%s", describe(e))
}

// fold prints a constant time expression (now() - INTERVAL 7 DAY,
// toUnixTimestamp(today()) * 1000, ...) as the literal keyline computes
// with the same clock the retention check uses: both databases then
// compare plain values, and no date arithmetic differs between them.
func (lp *localPrinter) fold(e expr) (string, ltype, bool) {
	switch e.(type) {
	case call, binary, intervalExpr, unary:
	default:
		return "", 0, false
	}
	if !mentionsClock(e) {
		return "", 0, false
	}
	v, ok := lp.rw.eval(e)
	if !ok {
		return "", 0, false
	}
	switch v.kind {
	case 1:
		if v.t.Year() < 1970 || v.t.Year() > 9999 {
			return "", 0, false
		}
		return timeLiteral(v.t), lTime, true
	case 0:
		if v.n == math.Trunc(v.n) && math.Abs(v.n) < 1<<53 {
			return strconv.FormatInt(int64(v.n), 10), lInt, true
		}
		return strconv.FormatFloat(v.n, 'g', -1, 64), lFloat, true
	}
	return "", 0, false
}

// mentionsClock reports a call of a time function or an INTERVAL in e:
// only those are folded, so plain arithmetic keeps its types.
func mentionsClock(e expr) bool {
	found := false
	walk(e, func(x expr) {
		switch x := x.(type) {
		case intervalExpr:
			found = true
		case call:
			switch x.name {
			case "now", "today", "yesterday", "toDateTime", "toDate", "toUnixTimestamp", "toStartOfMinute", "toStartOfHour",
				"toStartOfDay", "toStartOfMonth":
				found = true
			}
		}
	})
	return found
}

func (lp *localPrinter) column(c columnRef, lv *level) (string, ltype, error) {
	if c.qualifier != "" && !lv.qualifiers[c.qualifier] {
		return "", 0, errf(KindSyntax, "Unknown table or alias %q in %s.%s.", c.qualifier, c.qualifier, c.name)
	}
	if a, ok := lv.aliases[c.name]; ok && c.qualifier == "" && !lv.expanding[c.name] {
		// ClickHouse lets an alias stand for its expression anywhere in
		// the SELECT (WHERE and GROUP BY included) and prefers it to a
		// column of the same name; PostgreSQL knows neither, so the
		// expression is printed in its place.
		lv.expanding[c.name] = true
		defer delete(lv.expanding, c.name)
		return lp.ex(a, lv)
	}
	t, ok := lv.cols[c.name]
	if !ok {
		if why, ok := lv.missing[c.name]; ok {
			return "", 0, unsupported("column %s: %s", c.name, why)
		}
		return "", 0, errf(KindSyntax, "Unknown column %q.", c.name)
	}
	if t == lTags {
		return "", 0, unsupported("tags other than in has(tags, ...), arrayJoin(tags), length(tags), empty(tags) or notEmpty(tags)")
	}
	return quoteIdent(c.name), t, nil
}

// tagsArg checks that e is the tags column of a raw source.
func (lp *localPrinter) tagsArg(e expr, lv *level) (string, error) {
	c, ok := e.(columnRef)
	if ok && (c.qualifier == "" || lv.qualifiers[c.qualifier]) && lv.cols[c.name] == lTags {
		if _, aliased := lv.aliases[c.name]; !aliased || c.qualifier != "" {
			return quoteIdent(c.name), nil
		}
	}
	return "", unsupported("array functions other than on the tags column")
}

var comparisonSQL = map[string]string{"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (lp *localPrinter) binary(e binary, lv *level) (string, ltype, error) {
	switch e.op {
	case "AND", "OR":
		l, err := lp.cond(e.l, lv)
		if err != nil {
			return "", 0, err
		}
		r, err := lp.cond(e.r, lv)
		if err != nil {
			return "", 0, err
		}
		return "(" + l + " " + e.op + " " + r + ")", lBool, nil
	case "=", "!=", "<", "<=", ">", ">=":
		sql, err := lp.compare(e.op, e.l, e.r, lv)
		return sql, lBool, err
	case "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE":
		return lp.like(e, lv)
	}
	l, lt, err := lp.val(e.l, lv)
	if err != nil {
		return "", 0, err
	}
	r, rt, err := lp.val(e.r, lv)
	if err != nil {
		return "", 0, err
	}
	if e.op == "||" {
		if !textual(lt) || !textual(rt) {
			return "", 0, unsupported("|| of a non-string")
		}
		return "(" + l + " || " + r + ")", lStr, nil
	}
	if !numeric(lt) || !numeric(rt) {
		return "", 0, unsupported("arithmetic (%s) on %s", e.op, describe(e))
	}
	typ := lInt
	if lt == lFloat || rt == lFloat {
		typ = lFloat
	}
	switch e.op {
	case "/":
		// ClickHouse divides in floating point, and a division by zero is
		// ±Inf or NaN, which answers render as null.
		if lp.d == Postgres {
			return "(CAST(" + l + " AS DOUBLE PRECISION) / NULLIF(" + r + ", 0))", lFloat, nil
		}
		return "(CAST(" + l + " AS REAL) / " + r + ")", lFloat, nil
	case "%":
		if typ != lInt {
			return "", 0, unsupported("%% of a fractional number")
		}
		return "(" + l + " % " + r + ")", lInt, nil
	case "+", "-", "*":
		return "(" + l + " " + e.op + " " + r + ")", typ, nil
	}
	return "", 0, unsupported("operator %s", e.op)
}

func numeric(t ltype) bool { return t == lInt || t == lFloat || t == lNull }
func textual(t ltype) bool { return t == lStr || t == lNull }

// compare prints l op r. A string literal compared with a time becomes
// that time (ClickHouse parses it the same way); any other mix of types is
// refused rather than compared by rules that differ between databases.
func (lp *localPrinter) compare(op string, le, re expr, lv *level) (string, error) {
	l, lt, err := lp.val(le, lv)
	if err != nil {
		return "", err
	}
	r, rt, err := lp.val(re, lv)
	if err != nil {
		return "", err
	}
	if lt == lTime && rt == lStr {
		if r, err = timeFromLiteral(re); err != nil {
			return "", err
		}
		rt = lTime
	}
	if rt == lTime && lt == lStr {
		if l, err = timeFromLiteral(le); err != nil {
			return "", err
		}
		lt = lTime
	}
	switch {
	case lt == lNull || rt == lNull:
	case numeric(lt) && numeric(rt):
	case lt == rt && (lt == lStr || lt == lTime):
		l += lp.collate(lt)
	default:
		return "", unsupported("comparing %s with %s (for the raw tables' time in Unix milliseconds, compare with toUnixTimestamp(...) * 1000)",
			describe(le), describe(re))
	}
	return "(" + l + " " + comparisonSQL[op] + " " + r + ")", nil
}

func timeFromLiteral(e expr) (string, error) {
	if s, ok := e.(stringLit); ok {
		for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, s.value); err == nil {
				return timeLiteral(t), nil
			}
		}
	}
	return "", unsupported("comparing a time with %s (write 'YYYY-MM-DD' or 'YYYY-MM-DD hh:mm:ss')", describe(e))
}

// like prints LIKE with ClickHouse's meaning: case-sensitive, % and _ as
// wildcards, backslash escaping them. PostgreSQL's LIKE is exactly that;
// SQLite's ignores case, so there it becomes GLOB with the pattern
// translated.
func (lp *localPrinter) like(e binary, lv *level) (string, ltype, error) {
	l, lt, err := lp.val(e.l, lv)
	if err != nil {
		return "", 0, err
	}
	if !textual(lt) {
		return "", 0, unsupported("LIKE on %s", describe(e.l))
	}
	pat, ok := e.r.(stringLit)
	if !ok || strings.IndexByte(pat.value, 0) >= 0 {
		return "", 0, unsupported("a LIKE pattern that is not a string literal")
	}
	p := pat.value
	insensitive := strings.HasSuffix(e.op, "ILIKE")
	if insensitive {
		l = "lower(" + l + ")"
		p = asciiLower(p)
	}
	not := strings.HasPrefix(e.op, "NOT ")
	var sql string
	if lp.d == Postgres {
		sql = "(" + l + ` COLLATE "C" LIKE ` + lp.str(p) + ")"
	} else {
		sql = "(" + l + " GLOB " + lp.str(likeToGlob(p)) + ")"
	}
	if not {
		sql = "(NOT " + sql + ")"
	}
	return sql, lBool, nil
}

// asciiLower is what SQLite's lower() and ClickHouse's lower() do: ASCII
// letters only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func likeToGlob(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			i++
			writeGlobLiteral(&b, p[i])
		case c == '%':
			b.WriteByte('*')
		case c == '_':
			b.WriteByte('?')
		default:
			writeGlobLiteral(&b, c)
		}
	}
	return b.String()
}

func writeGlobLiteral(b *strings.Builder, c byte) {
	switch c {
	case '*', '?', '[':
		b.WriteByte('[')
		b.WriteByte(c)
		b.WriteByte(']')
	default:
		b.WriteByte(c)
	}
}

func (lp *localPrinter) in(e inExpr, lv *level) (string, ltype, error) {
	x, xt, err := lp.val(e.x, lv)
	if err != nil {
		return "", 0, err
	}
	var items []string
	if e.sub != nil {
		sql, cols, err := lp.query(e.sub)
		if err != nil {
			return "", 0, err
		}
		if len(cols) != 1 {
			return "", 0, unsupported("IN with a subquery of %d columns", len(cols))
		}
		if !(numeric(xt) && numeric(cols[0].typ)) && xt != cols[0].typ {
			return "", 0, unsupported("IN with a subquery of another type")
		}
		items = []string{sql}
	} else {
		for _, it := range e.list {
			s, t, err := lp.val(it, lv)
			if err != nil {
				return "", 0, err
			}
			if xt == lTime && t == lStr {
				if s, err = timeFromLiteral(it); err != nil {
					return "", 0, err
				}
				t = lTime
			}
			if !(numeric(xt) && numeric(t)) && t != xt && t != lNull {
				return "", 0, unsupported("IN with values of another type than %s", describe(e.x))
			}
			items = append(items, s)
		}
	}
	op := " IN ("
	if e.not {
		op = " NOT IN ("
	}
	return "(" + x + op + strings.Join(items, ", ") + "))", lBool, nil
}

// checkUnixTimestamps refuses toUnixTimestamp of anything but a DateTime:
// of a Date (today(), toDate(...), a daily rollup's time) ClickHouse 18.16
// answers the day number, not seconds, and the local store cannot tell
// its Dates from its DateTimes.
func checkUnixTimestamps(e expr) error {
	var bad error
	walk(e, func(x expr) {
		if c, ok := x.(call); ok && c.name == "toUnixTimestamp" && bad == nil {
			if len(c.args) != 1 || !dateTimeValued(c.args[0]) {
				bad = unsupported("toUnixTimestamp of anything but a DateTime (now(), toDateTime(...), toStartOfDay(...), toStartOfHour(...), toStartOfMinute(...), with or without ± INTERVAL)")
			}
		}
	})
	return bad
}

func dateTimeValued(e expr) bool {
	switch e := e.(type) {
	case call:
		switch e.name {
		case "now", "toDateTime", "toStartOfDay", "toStartOfHour", "toStartOfMinute":
			return true
		}
	case binary:
		_, interval := e.r.(intervalExpr)
		return (e.op == "+" || e.op == "-") && interval && dateTimeValued(e.l)
	}
	return false
}
