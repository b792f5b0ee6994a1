package analyticsql

import (
	"sort"
	"strings"
)

type function struct {
	name       string // canonical spelling, printed to ClickHouse
	aggregate  bool
	parametric bool // takes (params)(args), as quantile(0.99)(x)
}

// functions is the allow-list, keyed by lower-case name (callers may write
// COUNT or Count; ClickHouse gets the canonical spelling). Every entry is
// pure: it reads only its arguments, never a table, a file, the network or
// server state beyond the clock. That is the property a new entry must
// have: no joinGet, dictGet, file, url, remote, currentDatabase, ... .
var functions = map[string]function{}

func init() {
	add := func(aggregate, parametric bool, names ...string) {
		for _, n := range names {
			functions[strings.ToLower(n)] = function{name: n, aggregate: aggregate, parametric: parametric}
		}
	}
	add(true, false, "count", "countIf", "sum", "sumIf", "avg", "avgIf", "min", "minIf", "max", "maxIf",
		"uniq", "uniqIf", "uniqExact", "uniqExactIf", "any", "groupArray", "groupUniqArray", "argMin", "argMax")
	add(true, true, "quantile", "quantileExact", "quantiles", "quantileIf")
	add(false, false,
		// time
		"now", "today", "yesterday", "toDate", "toDateTime", "toUnixTimestamp", "toStartOfMinute",
		"toStartOfFiveMinute", "toStartOfFifteenMinutes", "toStartOfHour", "toStartOfDay", "toMonday",
		"toStartOfMonth", "toStartOfQuarter", "toStartOfYear", "toYYYYMM", "toYYYYMMDD", "toHour", "toDayOfWeek",
		// logic and conditionals
		"if", "multiIf", "and", "or", "not", "coalesce", "ifNull", "isNull", "isNotNull",
		// arithmetic
		"intDiv", "round", "floor", "ceil", "abs", "least", "greatest",
		// strings
		"lower", "upper", "concat", "length", "startsWith", "endsWith", "substring", "position",
		// arrays
		"has", "hasAny", "hasAll", "arrayJoin", "empty", "notEmpty",
		// conversions
		"toString", "toInt64", "toUInt64", "toFloat64")
}

func functionList() string {
	names := make([]string, 0, len(functions))
	for _, f := range functions {
		names = append(names, f.name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
