package analyticsql

import (
	"strings"
)

// localFunctions lists what RewriteLocal prints, for the refusal message.
const localFunctions = "count, countIf, sum, sumIf, avg, avgIf, min, minIf, max, maxIf, uniq, uniqIf, uniqExact, uniqExactIf, " +
	"now, today, yesterday, toDateTime, toDate, toStartOfMinute, toStartOfHour, toStartOfDay, toStartOfMonth, toStartOfYear, " +
	"toUnixTimestamp, toYYYYMM, toYYYYMMDD, toHour, if, multiIf, and, or, not, coalesce, ifNull, isNull, isNotNull, intDiv, abs, " +
	"least, greatest, lower, upper, length, empty, notEmpty, concat, startsWith, endsWith, has, arrayJoin, toInt64, toUInt64, toFloat64"

func (lp *localPrinter) call(c call, lv *level) (string, ltype, error) {
	if functions[strings.ToLower(c.name)].aggregate {
		return lp.aggregate(c, lv)
	}
	if c.distinct || c.params != nil {
		return "", 0, unsupported("%s", describe(c))
	}
	args := c.args
	nargs := func(n int) error {
		if len(args) != n {
			return unsupported("%s with %d arguments", c.name, len(args))
		}
		return nil
	}
	one := func(want ...ltype) (string, ltype, error) {
		if err := nargs(1); err != nil {
			return "", 0, err
		}
		s, t, err := lp.val(args[0], lv)
		if err != nil {
			return "", 0, err
		}
		for _, w := range want {
			if t == w {
				return s, t, nil
			}
		}
		return "", 0, unsupported("%s of %s", c.name, describe(args[0]))
	}
	pg := lp.d == Postgres
	switch c.name {
	case "toDateTime":
		s, t, err := one(lTime, lInt)
		if err != nil || t == lTime {
			return s, lTime, err
		}
		return lp.timeText(s, GrainMillis), lTime, nil
	case "toDate", "toStartOfDay":
		s, _, err := one(lTime)
		return "(substr(" + s + ", 1, 10) || 'T00:00:00Z')", lTime, err
	case "toStartOfMinute":
		s, _, err := one(lTime)
		return "(substr(" + s + ", 1, 16) || ':00Z')", lTime, err
	case "toStartOfHour":
		s, _, err := one(lTime)
		return "(substr(" + s + ", 1, 13) || ':00:00Z')", lTime, err
	case "toStartOfMonth":
		s, _, err := one(lTime)
		return "(substr(" + s + ", 1, 7) || '-01T00:00:00Z')", lTime, err
	case "toStartOfYear":
		s, _, err := one(lTime)
		return "(substr(" + s + ", 1, 4) || '-01-01T00:00:00Z')", lTime, err
	case "toUnixTimestamp":
		s, _, err := one(lTime)
		if pg {
			return "CAST(EXTRACT(EPOCH FROM CAST(" + s + " AS TIMESTAMPTZ)) AS BIGINT)", lInt, err
		}
		return "CAST(strftime('%s', " + s + ") AS INTEGER)", lInt, err
	case "toYYYYMM":
		s, _, err := one(lTime)
		return lp.castInt("(substr(" + s + ", 1, 4) || substr(" + s + ", 6, 2))"), lInt, err
	case "toYYYYMMDD":
		s, _, err := one(lTime)
		return lp.castInt("(substr(" + s + ", 1, 4) || substr(" + s + ", 6, 2) || substr(" + s + ", 9, 2))"), lInt, err
	case "toHour":
		s, _, err := one(lTime)
		return lp.castInt("substr(" + s + ", 12, 2)"), lInt, err
	case "if":
		if err := nargs(3); err != nil {
			return "", 0, err
		}
		return lp.caseWhen([]expr{args[0]}, []expr{args[1]}, args[2], lv)
	case "multiIf":
		if len(args) < 3 || len(args)%2 == 0 {
			return "", 0, unsupported("multiIf with %d arguments", len(args))
		}
		var conds, vals []expr
		for i := 0; i+1 < len(args); i += 2 {
			conds, vals = append(conds, args[i]), append(vals, args[i+1])
		}
		return lp.caseWhen(conds, vals, args[len(args)-1], lv)
	case "and", "or":
		if len(args) < 2 {
			return "", 0, unsupported("%s with %d arguments", c.name, len(args))
		}
		parts := make([]string, len(args))
		for i, a := range args {
			s, err := lp.cond(a, lv)
			if err != nil {
				return "", 0, err
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(c.name)+" ") + ")", lBool, nil
	case "not":
		if err := nargs(1); err != nil {
			return "", 0, err
		}
		s, err := lp.cond(args[0], lv)
		return "(NOT " + s + ")", lBool, err
	case "coalesce", "ifNull":
		if len(args) < 2 || c.name == "ifNull" && len(args) != 2 {
			return "", 0, unsupported("%s with %d arguments", c.name, len(args))
		}
		parts, t, err := lp.sameTypes(args, lv)
		return "COALESCE(" + strings.Join(parts, ", ") + ")", t, err
	case "isNull", "isNotNull":
		s, _, err := one(lInt, lFloat, lStr, lTime, lNull)
		if c.name == "isNull" {
			return "(" + s + " IS NULL)", lBool, err
		}
		return "(" + s + " IS NOT NULL)", lBool, err
	case "intDiv":
		if err := nargs(2); err != nil {
			return "", 0, err
		}
		parts, t, err := lp.sameTypes(args, lv)
		if err == nil && t != lInt {
			err = unsupported("intDiv of non-integers")
		}
		// Both databases divide integers toward zero, as intDiv does.
		return "(" + strings.Join(parts, " / ") + ")", lInt, err
	case "abs":
		s, t, err := one(lInt, lFloat)
		return "abs(" + s + ")", t, err
	case "least", "greatest":
		if len(args) != 2 {
			return "", 0, unsupported("%s with %d arguments", c.name, len(args))
		}
		parts, t, err := lp.sameTypes(args, lv)
		if err == nil && !numeric(t) {
			err = unsupported("%s of non-numbers", c.name)
		}
		fn := map[string]string{"least": "min", "greatest": "max"}[c.name]
		if pg {
			fn = strings.ToUpper(c.name)
		}
		return fn + "(" + strings.Join(parts, ", ") + ")", t, err
	case "lower", "upper":
		s, _, err := one(lStr)
		return c.name + "(" + s + ")", lStr, err
	case "length", "empty", "notEmpty":
		if err := nargs(1); err != nil {
			return "", 0, err
		}
		var n string
		if tags, err := lp.tagsArg(args[0], lv); err == nil {
			n = "json_array_length(" + tags + ")"
			if pg {
				n = "jsonb_array_length(CAST(" + tags + " AS jsonb))"
			}
		} else {
			s, _, err := one(lStr)
			if err != nil {
				return "", 0, err
			}
			// ClickHouse counts bytes.
			n = "length(CAST(" + s + " AS BLOB))"
			if pg {
				n = "octet_length(" + s + ")"
			}
		}
		switch c.name {
		case "empty":
			return "(" + n + " = 0)", lBool, nil
		case "notEmpty":
			return "(" + n + " > 0)", lBool, nil
		}
		return n, lInt, nil
	case "concat":
		if len(args) < 2 {
			return "", 0, unsupported("concat with %d arguments", len(args))
		}
		parts, t, err := lp.sameTypes(args, lv)
		if err == nil && t != lStr {
			err = unsupported("concat of non-strings")
		}
		return "(" + strings.Join(parts, " || ") + ")", lStr, err
	case "startsWith", "endsWith":
		if err := nargs(2); err != nil {
			return "", 0, err
		}
		parts, t, err := lp.sameTypes(args, lv)
		if err == nil && t != lStr {
			err = unsupported("%s of non-strings", c.name)
		}
		if err != nil {
			return "", 0, err
		}
		s, p := parts[0], parts[1]
		if c.name == "startsWith" {
			return "(substr(" + s + ", 1, length(" + p + ")) = " + p + ")", lBool, nil
		}
		return "(length(" + s + ") >= length(" + p + ") AND substr(" + s + ", length(" + s + ") - length(" + p + ") + 1) = " + p + ")", lBool, nil
	case "has":
		if err := nargs(2); err != nil {
			return "", 0, err
		}
		tags, err := lp.tagsArg(args[0], lv)
		if err != nil {
			return "", 0, err
		}
		x, t, err := lp.val(args[1], lv)
		if err != nil {
			return "", 0, err
		}
		if t != lStr {
			return "", 0, unsupported("has(tags, ...) of a non-string")
		}
		if pg {
			return "(CAST(" + tags + " AS jsonb) @> jsonb_build_array(CAST(" + x + " AS TEXT)))", lBool, nil
		}
		return "EXISTS (SELECT 1 FROM json_each(" + tags + ") AS \"__kl_h\" WHERE \"__kl_h\".value = " + x + ")", lBool, nil
	case "arrayJoin":
		if err := nargs(1); err != nil {
			return "", 0, err
		}
		if _, err := lp.tagsArg(args[0], lv); err != nil || !lv.tagJoin {
			return "", 0, unsupported("arrayJoin other than arrayJoin(tags) over key_verifications_v1")
		}
		return tagCol, lStr, nil
	case "toInt64", "toUInt64":
		s, t, err := one(lInt, lFloat, lNull)
		if t == lFloat && pg {
			s = "trunc(" + s + ")" // PostgreSQL's cast rounds; ClickHouse truncates
		}
		return lp.castInt(s), lInt, err
	case "toFloat64":
		s, _, err := one(lInt, lFloat, lNull)
		if pg {
			return "CAST(" + s + " AS DOUBLE PRECISION)", lFloat, err
		}
		return "CAST(" + s + " AS REAL)", lFloat, err
	}
	return "", 0, unsupported("function %s (supported: %s)", c.name, localFunctions)
}

func (lp *localPrinter) castInt(s string) string {
	if lp.d == Postgres {
		return "CAST(" + s + " AS BIGINT)"
	}
	return "CAST(" + s + " AS INTEGER)"
}

// sameTypes prints args that must share one type (numbers mix).
func (lp *localPrinter) sameTypes(args []expr, lv *level) ([]string, ltype, error) {
	parts := make([]string, len(args))
	typ := lNull
	for i, a := range args {
		s, t, err := lp.val(a, lv)
		if err != nil {
			return nil, 0, err
		}
		parts[i] = s
		switch {
		case t == lNull || t == typ:
		case typ == lNull:
			typ = t
		case numeric(t) && numeric(typ):
			typ = lFloat
		default:
			return nil, 0, unsupported("arguments of different types (%s)", describe(a))
		}
	}
	return parts, typ, nil
}

func (lp *localPrinter) caseWhen(conds, vals []expr, otherwise expr, lv *level) (string, ltype, error) {
	all := append(append([]expr{}, vals...), otherwise)
	parts, t, err := lp.sameTypes(all, lv)
	if err != nil {
		return "", 0, err
	}
	var b strings.Builder
	b.WriteString("(CASE")
	for i, c := range conds {
		cs, err := lp.cond(c, lv)
		if err != nil {
			return "", 0, err
		}
		b.WriteString(" WHEN " + cs + " THEN " + parts[i])
	}
	b.WriteString(" ELSE " + parts[len(parts)-1] + " END)")
	return b.String(), t, nil
}

// aggregate prints an aggregate function. Over a raw source every row
// stands for lv.weight records: count() is the sum of the weights, sum(x)
// the sum of x times the weight, and so on; what cannot be derived from
// counts (quantiles, any, argMin, groupArray, ...) is refused.
func (lp *localPrinter) aggregate(c call, lv *level) (string, ltype, error) {
	if !lv.aggOK || lv.inAgg {
		return "", 0, unsupported("%s here (aggregates belong in SELECT, HAVING and ORDER BY, and cannot nest)", c.name)
	}
	lv.inAgg = true
	defer func() { lv.inAgg = false }()
	w := lv.weight
	pg := lp.d == Postgres
	args := c.args
	arg := func(i int) (string, ltype, error) { return lp.val(args[i], lv) }
	condArg := func(i int) (string, error) { return lp.cond(args[i], lv) }
	want := func(n int) error {
		if len(args) != n || c.params != nil {
			return unsupported("%s with %d arguments", c.name, len(args))
		}
		return nil
	}
	sumOf := func(inner string, t ltype) (string, ltype) {
		s := "COALESCE(SUM(" + inner + "), 0)"
		if pg && t == lInt {
			s = "CAST(" + s + " AS BIGINT)"
		}
		return s, t
	}
	weighted := func(x string) string {
		if w == "" {
			return x
		}
		return "(" + x + " * " + w + ")"
	}
	one := func() string {
		if w == "" {
			return "1"
		}
		return w
	}
	name := c.name
	// filteredArg is the argument of f(x) or fIf(x, cond): x, or x where
	// cond holds and NULL elsewhere, which the aggregates skip.
	filteredArg := func() (string, ltype, error) {
		n := 1
		if strings.HasSuffix(name, "If") {
			n = 2
		}
		if err := want(n); err != nil {
			return "", 0, err
		}
		x, t, err := arg(0)
		if err != nil || n == 1 {
			return x, t, err
		}
		cs, err := condArg(1)
		if err != nil {
			return "", 0, err
		}
		return "CASE WHEN " + cs + " THEN " + x + " END", t, nil
	}
	if c.distinct {
		switch name {
		case "count", "uniq", "uniqExact":
			name = "uniqExact"
		case "sum":
			if err := want(1); err != nil {
				return "", 0, err
			}
			x, t, err := arg(0)
			if err != nil || !numeric(t) {
				return "", 0, orUnsupported(err, "sum of a non-number")
			}
			s, t := sumOf("DISTINCT "+x, t)
			return s, t, nil
		default:
			return "", 0, unsupported("%s(DISTINCT ...)", c.name)
		}
	}
	switch name {
	case "count":
		if len(args) == 0 || len(args) == 1 && args[0] == (starExpr{}) {
			if w == "" {
				return "COUNT(*)", lInt, nil
			}
			s, t := sumOf(w, lInt)
			return s, t, nil
		}
		if err := want(1); err != nil {
			return "", 0, err
		}
		x, _, err := arg(0)
		if err != nil {
			return "", 0, err
		}
		if w == "" {
			return "COUNT(" + x + ")", lInt, nil
		}
		s, t := sumOf("CASE WHEN "+x+" IS NOT NULL THEN "+w+" ELSE 0 END", lInt)
		return s, t, nil
	case "countIf":
		if err := want(1); err != nil {
			return "", 0, err
		}
		cs, err := condArg(0)
		if err != nil {
			return "", 0, err
		}
		s, t := sumOf("CASE WHEN "+cs+" THEN "+one()+" ELSE 0 END", lInt)
		return s, t, nil
	case "sum", "sumIf":
		n := 1
		if name == "sumIf" {
			n = 2
		}
		if err := want(n); err != nil {
			return "", 0, err
		}
		x, t, err := arg(0)
		if err != nil || !numeric(t) {
			return "", 0, orUnsupported(err, "sum of a non-number")
		}
		if t == lNull {
			t = lInt
		}
		inner := weighted(x)
		if name == "sumIf" {
			cs, err := condArg(1)
			if err != nil {
				return "", 0, err
			}
			inner = "CASE WHEN " + cs + " THEN " + inner + " ELSE 0 END"
		}
		s, t := sumOf(inner, t)
		return s, t, nil
	case "avg", "avgIf":
		n := 1
		if name == "avgIf" {
			n = 2
		}
		if err := want(n); err != nil {
			return "", 0, err
		}
		x, t, err := arg(0)
		if err != nil || !numeric(t) {
			return "", 0, orUnsupported(err, "avg of a non-number")
		}
		num, den := weighted(x), one()
		if name == "avgIf" {
			cs, err := condArg(1)
			if err != nil {
				return "", 0, err
			}
			num, den = "CASE WHEN "+cs+" THEN "+num+" END", "CASE WHEN "+cs+" THEN "+den+" END"
		}
		float := "REAL"
		if pg {
			float = "DOUBLE PRECISION"
		}
		return "(CAST(SUM(" + num + ") AS " + float + ") / SUM(" + den + "))", lFloat, nil
	case "min", "max", "minIf", "maxIf":
		x, t, err := filteredArg()
		if err != nil {
			return "", 0, err
		}
		// ClickHouse answers an empty set with the type's default value.
		zero := map[ltype]string{lInt: "0", lFloat: "0", lStr: "''", lTime: "'1970-01-01T00:00:00Z'"}[t]
		if zero == "" {
			return "", 0, unsupported("%s of %s", c.name, describe(args[0]))
		}
		fn := strings.ToUpper(strings.TrimSuffix(name, "If"))
		return "COALESCE(" + fn + "(" + x + lp.collate(t) + "), " + zero + ")", t, nil
	case "uniqExact", "uniq", "uniqIf", "uniqExactIf":
		x, _, err := filteredArg()
		if err != nil {
			return "", 0, err
		}
		// uniq is ClickHouse's estimate, exact for the few thousand values
		// a local store holds; COUNT(DISTINCT) is exact.
		return "COUNT(DISTINCT " + x + ")", lInt, nil
	}
	return "", 0, unsupported("aggregate %s (supported: count, countIf, sum, sumIf, avg, avgIf, min, minIf, max, maxIf, uniq, uniqIf, uniqExact, uniqExactIf)", c.name)
}

func orUnsupported(err error, msg string) error {
	if err != nil {
		return err
	}
	return unsupported("%s", msg)
}
