package analyticsql

import (
	"strings"
)

// columnName is the name ClickHouse gives a SELECT item without an alias
// (count() for count(*), equals(outcome, 'VALID') for a comparison), so
// that answers from the local store have the same keys. It reports false
// for shapes whose ClickHouse name keyline does not reproduce; the query
// must then name the item with AS.
func columnName(e expr) (string, bool) {
	switch e := e.(type) {
	case columnRef:
		return e.name, true
	case numberLit:
		if strings.ContainsAny(e.text, ".eExX") {
			return "", false
		}
		return e.text, true
	case stringLit:
		if strings.ContainsAny(e.value, "'\\") || hasControl(e.value) {
			return "", false
		}
		return "'" + e.value + "'", true
	case call:
		if e.params != nil || e.distinct {
			return "", false
		}
		if e.name == "count" && len(e.args) == 1 && e.args[0] == (starExpr{}) {
			return "count()", true
		}
		return callName(e.name, e.args)
	case unary:
		if e.op == "NOT" {
			return callName("not", []expr{e.x})
		}
		if _, lit := e.x.(numberLit); lit {
			return "", false // ClickHouse reads -1 as one literal
		}
		return callName("negate", []expr{e.x})
	case binary:
		fn := map[string]string{"+": "plus", "-": "minus", "*": "multiply", "/": "divide", "%": "modulo",
			"=": "equals", "!=": "notEquals", "<": "less", ">": "greater", "<=": "lessOrEquals",
			">=": "greaterOrEquals", "AND": "and", "OR": "or", "LIKE": "like", "NOT LIKE": "notLike", "||": "concat"}[e.op]
		if fn == "" {
			return "", false
		}
		return callName(fn, []expr{e.l, e.r})
	case isNullExpr:
		if e.not {
			return callName("isNotNull", []expr{e.x})
		}
		return callName("isNull", []expr{e.x})
	}
	return "", false
}

func callName(fn string, args []expr) (string, bool) {
	parts := make([]string, len(args))
	for i, a := range args {
		n, ok := columnName(a)
		if !ok {
			return "", false
		}
		parts[i] = n
	}
	return fn + "(" + strings.Join(parts, ", ") + ")", true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// describe renders e for an error message: ClickHouse's spelling where
// keyline knows it, else the kind of expression.
func describe(e expr) string {
	if n, ok := columnName(e); ok {
		if len(n) > 80 {
			n = n[:80] + "..."
		}
		return n
	}
	switch e := e.(type) {
	case call:
		return e.name + "(...)"
	case inExpr:
		return "an IN expression"
	case betweenExpr:
		return "a BETWEEN expression"
	case tupleExpr:
		return "a tuple"
	case arrayExpr:
		return "an array"
	case intervalExpr:
		return "an INTERVAL"
	case subqueryExpr:
		return "a subquery"
	case nullLit:
		return "NULL"
	}
	return "this expression"
}
