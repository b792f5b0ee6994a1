package analyticsql

import (
	"strconv"
	"time"
)

// checkRetention refuses a SELECT over a public table whose WHERE asks,
// explicitly, for rows older than the retention: a lower bound on `time`
// (time >= X, time > X, time = X, X <= time, time BETWEEN X AND Y) that
// keyline can evaluate and that lies before the retention start. Bounds it
// cannot evaluate are let through: the generated source cuts at the
// retention start anyway, so this check only turns a silently truncated
// answer into an explicit 400, as Unkey does.
func (rw *rewriter) checkRetention(q *query) error {
	for _, s := range q.selects {
		if s.from.table != nil && s.where != nil {
			if err := rw.checkBounds(s.from, s.where); err != nil {
				return err
			}
		}
		if s.from.sub != nil {
			if err := rw.checkRetention(s.from.sub); err != nil {
				return err
			}
		}
		var err error
		visit := func(e expr) {
			if err != nil {
				return
			}
			switch e := e.(type) {
			case inExpr:
				if e.sub != nil {
					err = rw.checkRetention(e.sub)
				}
			case subqueryExpr:
				err = rw.checkRetention(e.q)
			}
		}
		for _, it := range s.items {
			walk(it.expr, visit)
		}
		walk(s.where, visit)
		walk(s.having, visit)
		if err != nil {
			return err
		}
	}
	return nil
}

// walk calls fn on e and every expression below it (not into subqueries,
// which checkRetention visits as queries).
func walk(e expr, fn func(expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch e := e.(type) {
	case call:
		for _, a := range e.params {
			walk(a, fn)
		}
		for _, a := range e.args {
			walk(a, fn)
		}
	case unary:
		walk(e.x, fn)
	case binary:
		walk(e.l, fn)
		walk(e.r, fn)
	case inExpr:
		walk(e.x, fn)
		for _, a := range e.list {
			walk(a, fn)
		}
	case betweenExpr:
		walk(e.x, fn)
		walk(e.lo, fn)
		walk(e.hi, fn)
	case isNullExpr:
		walk(e.x, fn)
	case tupleExpr:
		for _, a := range e.items {
			walk(a, fn)
		}
	case arrayExpr:
		for _, a := range e.items {
			walk(a, fn)
		}
	case intervalExpr:
		walk(e.x, fn)
	}
}

func (rw *rewriter) checkBounds(f *fromItem, where expr) error {
	since := rw.retentionStart(f.table)
	for _, c := range conjuncts(where) {
		for _, bound := range lowerBounds(f, c) {
			at, ok := rw.boundTime(f.table, bound)
			if ok && at.Before(since) {
				return errf(KindRetention, "The query's time range exceeds the retention of %d days: the oldest data it may ask for starts at %s.",
					rw.lim.RetentionDays, since.Format(time.RFC3339))
			}
		}
	}
	return nil
}

func conjuncts(e expr) []expr {
	if b, ok := e.(binary); ok && b.op == "AND" {
		return append(conjuncts(b.l), conjuncts(b.r)...)
	}
	return []expr{e}
}

func isTimeColumn(f *fromItem, e expr) bool {
	c, ok := e.(columnRef)
	if !ok || c.name != "time" {
		return false
	}
	return c.qualifier == "" || c.qualifier == f.alias || c.qualifier == f.table.Name
}

// lowerBounds returns the expressions c bounds `time` from below by.
func lowerBounds(f *fromItem, c expr) []expr {
	switch c := c.(type) {
	case binary:
		switch {
		case isTimeColumn(f, c.l) && (c.op == ">=" || c.op == ">" || c.op == "="):
			return []expr{c.r}
		case isTimeColumn(f, c.r) && (c.op == "<=" || c.op == "<" || c.op == "="):
			return []expr{c.l}
		}
	case betweenExpr:
		if !c.not && isTimeColumn(f, c.x) {
			return []expr{c.lo}
		}
	}
	return nil
}

// value is a constant keyline could evaluate: a number, an instant or an
// interval.
type value struct {
	kind     int // 0 number, 1 time, 2 interval
	n        float64
	t        time.Time
	unit     string
	interval int
}

func (rw *rewriter) boundTime(t *Table, e expr) (time.Time, bool) {
	v, ok := rw.eval(e)
	if !ok {
		return time.Time{}, false
	}
	switch {
	case v.kind == 1:
		return v.t, true
	case v.kind == 0 && t.Grain == GrainMillis:
		return time.UnixMilli(int64(clampFloat(v.n, maxBoundSeconds*1000))).UTC(), true
	case v.kind == 0 && (t.Grain == GrainMinute || t.Grain == GrainHour):
		return time.Unix(int64(clampFloat(v.n, maxBoundSeconds)), 0).UTC(), true
	}
	return time.Time{}, false
}

func floorDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// eval evaluates the constant expressions people write as time bounds:
// now(), today(), 'YYYY-MM-DD[ hh:mm:ss]', toDateTime/toDate/toStartOf*(...),
// toUnixTimestamp(...), INTERVAL n UNIT, and + - * / over those. The server
// clock is taken as UTC.
func (rw *rewriter) eval(e expr) (value, bool) {
	switch e := e.(type) {
	case numberLit:
		n, err := strconv.ParseFloat(e.text, 64)
		return value{n: n}, err == nil
	case stringLit:
		for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, e.value); err == nil {
				return value{kind: 1, t: t}, true
			}
		}
	case unary:
		if v, ok := rw.eval(e.x); ok && e.op == "-" && v.kind == 0 {
			return value{n: -v.n}, true
		}
	case intervalExpr:
		if v, ok := rw.eval(e.x); ok && v.kind == 0 {
			return value{kind: 2, interval: int(clampFloat(v.n, maxIntervalUnits)), unit: e.unit}, true
		}
	case call:
		return rw.evalCall(e)
	case binary:
		l, ok1 := rw.eval(e.l)
		r, ok2 := rw.eval(e.r)
		if !ok1 || !ok2 {
			return value{}, false
		}
		switch {
		case l.kind == 0 && r.kind == 0:
			switch e.op {
			case "+":
				return value{n: l.n + r.n}, true
			case "-":
				return value{n: l.n - r.n}, true
			case "*":
				return value{n: l.n * r.n}, true
			case "/":
				if r.n != 0 {
					return value{n: l.n / r.n}, true
				}
			}
		case l.kind == 1 && r.kind == 2 && (e.op == "-" || e.op == "+"):
			n := r.interval
			if e.op == "-" {
				n = -n
			}
			return value{kind: 1, t: addInterval(l.t, n, r.unit)}, true
		}
	}
	return value{}, false
}

func (rw *rewriter) evalCall(c call) (value, bool) {
	switch c.name {
	case "now":
		return value{kind: 1, t: rw.now}, len(c.args) == 0
	case "today":
		return value{kind: 1, t: floorDay(rw.now)}, len(c.args) == 0
	case "yesterday":
		return value{kind: 1, t: floorDay(rw.now).AddDate(0, 0, -1)}, len(c.args) == 0
	}
	if len(c.args) != 1 {
		return value{}, false
	}
	v, ok := rw.eval(c.args[0])
	if !ok {
		return value{}, false
	}
	if v.kind == 0 && (c.name == "toDateTime" || c.name == "toDate") {
		v = value{kind: 1, t: time.Unix(int64(v.n), 0).UTC()}
	}
	if v.kind != 1 {
		return value{}, false
	}
	switch c.name {
	case "toDateTime", "toStartOfMinute", "toStartOfHour", "toStartOfFiveMinute", "toStartOfFifteenMinutes":
		return v, true // never later than the argument: still a valid lower bound check
	case "toDate", "toStartOfDay":
		return value{kind: 1, t: floorDay(v.t)}, true
	case "toStartOfMonth":
		return value{kind: 1, t: time.Date(v.t.Year(), v.t.Month(), 1, 0, 0, 0, 0, time.UTC)}, true
	case "toUnixTimestamp":
		return value{n: float64(v.t.Unix())}, true
	}
	return value{}, false
}

// Client numbers are clamped before they become times: a float beyond int64
// converts to an unspecified integer and Duration and date arithmetic wrap,
// which could turn a bound far in the past into one in the future or the
// reverse. The clamps keep every bound beyond ±270 years on its side of any
// retention.
const (
	maxBoundSeconds  = 1 << 40 // ~34,800 years around the epoch
	maxIntervalUnits = 1 << 40
	maxIntervalDays  = 100_000 // ~273 years
)

func clampFloat(f, limit float64) float64 {
	return min(max(f, -limit), limit)
}

func addInterval(t time.Time, n int, unit string) time.Time {
	perDay := map[string]int{"SECOND": 86400, "MINUTE": 1440, "HOUR": 24}[unit]
	days := map[string]int{"WEEK": 7, "MONTH": 30, "QUARTER": 91, "YEAR": 365}[unit]
	switch {
	case perDay > 0:
		n = min(max(n, -maxIntervalDays*perDay), maxIntervalDays*perDay)
	case days > 0:
		n = min(max(n, -maxIntervalDays/days), maxIntervalDays/days)
	default: // DAY
		n = min(max(n, -maxIntervalDays), maxIntervalDays)
	}
	switch unit {
	case "SECOND":
		return t.Add(time.Duration(n) * time.Second)
	case "MINUTE":
		return t.Add(time.Duration(n) * time.Minute)
	case "HOUR":
		return t.Add(time.Duration(n) * time.Hour)
	case "DAY":
		return t.AddDate(0, 0, n)
	case "WEEK":
		return t.AddDate(0, 0, 7*n)
	case "MONTH":
		return t.AddDate(0, n, 0)
	case "QUARTER":
		return t.AddDate(0, 3*n, 0)
	default: // YEAR
		return t.AddDate(n, 0, 0)
	}
}
