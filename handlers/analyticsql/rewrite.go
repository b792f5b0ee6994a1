package analyticsql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scope is what a caller may see: one workspace and, when Restricted, only
// the rows whose table's ScopeColumn is one of Resources (possibly none).
type Scope struct {
	WorkspaceID string
	Restricted  bool
	Resources   []string
}

// Limits bound what a query may ask for.
type Limits struct {
	// MaxLength is the longest accepted query, in bytes.
	MaxLength int
	// MaxRows caps the LIMIT of the outermost SELECTs.
	MaxRows int64
	// RetentionDays is how far back a query may look.
	RetentionDays int
}

// Rewrite parses query, checks it against the allowed tables, functions and
// retention, and returns the SQL to run. The result is printed from the
// parse tree, never copied from the caller's text, and every public table
// reference becomes a subquery keyline writes:
//
//	(SELECT <public columns> FROM <physical> WHERE workspace_id = '<ws>'
//	 [AND <scope column> IN (...)] AND time >= <retention start>) AS <alias>
//
// That is the confinement: whatever the caller's query does around it
// (subqueries, UNION ALL, aliases that shadow column names), the only rows
// it can reach are the ones that subquery yields.
func Rewrite(query string, tables map[string]*Table, scope Scope, lim Limits, now time.Time) (string, error) {
	q, rw, err := prepare(query, tables, scope, lim, now, time.Time{})
	if err != nil {
		return "", err
	}
	rw.query(q)
	return rw.b.String(), nil
}

// prepare is what every dialect shares: the length limit, parsing (which
// refuses every table, function and clause outside the language), the
// retention check and the row cap. complete, when set, is the oldest
// instant the queried store still holds completely (see RewriteLocal).
func prepare(query string, tables map[string]*Table, scope Scope, lim Limits, now, complete time.Time) (*query, *rewriter, error) {
	if lim.MaxLength > 0 && len(query) > lim.MaxLength {
		return nil, nil, errf(KindLength, "The query is %d characters long; the maximum length is %d.", len(query), lim.MaxLength)
	}
	toks, err := lex(query)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{toks: toks, tables: tables}
	q, err := p.parseStatement()
	if err != nil {
		return nil, nil, err
	}
	rw := &rewriter{scope: scope, lim: lim, now: now.UTC(), complete: complete.UTC()}
	if err := rw.checkRetention(q); err != nil {
		return nil, nil, err
	}
	if lim.MaxRows > 0 {
		for _, s := range q.selects {
			if s.limit == nil || *s.limit > lim.MaxRows {
				n := lim.MaxRows
				s.limit = &n
			}
		}
	}
	return q, rw, nil
}

type rewriter struct {
	b     strings.Builder
	scope Scope
	lim   Limits
	now   time.Time
	// complete is zero for ClickHouse; for the local store it is the
	// oldest instant whose records are all still there.
	complete time.Time
}

// retentionStart is the oldest instant a query over t may see: the retention
// counted back from now, floored to the start of its day (of its month for
// the monthly rollups), so that a bucket is never cut in half and a client
// whose clock runs a little behind is not refused for asking for exactly the
// retention.
func (rw *rewriter) retentionStart(t *Table) time.Time {
	since := rw.now.AddDate(0, 0, -rw.lim.RetentionDays)
	since = time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	if t.Grain == GrainMonth {
		since = time.Date(since.Year(), since.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	if rw.complete.After(since) {
		// The local store dropped records newer than the retention start:
		// start at the first whole bucket after what it lost, so that no
		// answer counts a bucket it holds only in part.
		since = ceilGrain(rw.complete, t.Grain)
	}
	return since
}

// ceilGrain rounds t up to the start of a bucket of grain g.
func ceilGrain(t time.Time, g Grain) time.Time {
	var floor time.Time
	switch g {
	case GrainMillis:
		return t
	case GrainMinute:
		floor = t.Truncate(time.Minute)
		if floor.Before(t) {
			floor = floor.Add(time.Minute)
		}
	case GrainHour:
		floor = t.Truncate(time.Hour)
		if floor.Before(t) {
			floor = floor.Add(time.Hour)
		}
	case GrainDay:
		floor = floorDay(t)
		if floor.Before(t) {
			floor = floor.AddDate(0, 0, 1)
		}
	default:
		floor = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		if floor.Before(t) {
			floor = floor.AddDate(0, 1, 0)
		}
	}
	return floor
}

func (rw *rewriter) w(s string) { rw.b.WriteString(s) }

func (rw *rewriter) query(q *query) {
	for i, s := range q.selects {
		if i > 0 {
			rw.w(" UNION ALL ")
		}
		rw.selectStmt(s)
	}
}

func (rw *rewriter) selectStmt(s *selectStmt) {
	rw.w("SELECT ")
	if s.distinct {
		rw.w("DISTINCT ")
	}
	for i, it := range s.items {
		if i > 0 {
			rw.w(", ")
		}
		if it.star {
			rw.w("*")
			continue
		}
		rw.expr(it.expr)
		if it.alias != "" {
			rw.w(" AS ")
			rw.ident(it.alias)
		}
	}
	rw.w(" FROM ")
	rw.from(s.from)
	if s.where != nil {
		rw.w(" WHERE ")
		rw.expr(s.where)
	}
	if len(s.groupBy) > 0 {
		rw.w(" GROUP BY ")
		rw.exprs(s.groupBy)
	}
	if s.having != nil {
		rw.w(" HAVING ")
		rw.expr(s.having)
	}
	for i, o := range s.orderBy {
		if i == 0 {
			rw.w(" ORDER BY ")
		} else {
			rw.w(", ")
		}
		rw.expr(o.expr)
		if o.desc {
			rw.w(" DESC")
		} else {
			rw.w(" ASC")
		}
	}
	if s.limit != nil {
		rw.w(" LIMIT ")
		if s.offset != nil {
			rw.w(strconv.FormatInt(*s.offset, 10) + ", ")
		}
		rw.w(strconv.FormatInt(*s.limit, 10))
	}
}

func (rw *rewriter) from(f *fromItem) {
	alias := f.alias
	if f.table != nil {
		rw.source(f.table)
		if alias == "" {
			// Keep table-qualified names (key_verifications_v1.outcome) working.
			alias = f.table.Name
		}
	} else {
		rw.w("(")
		rw.query(f.sub)
		rw.w(")")
	}
	if alias != "" {
		rw.w(" AS ")
		rw.ident(alias)
	}
}

// source prints the subquery that stands for a public table: its public
// columns only, the caller's workspace only, the permitted resources only,
// and nothing older than the retention.
func (rw *rewriter) source(t *Table) {
	rw.w("(SELECT ")
	for i, c := range t.Columns {
		if i > 0 {
			rw.w(", ")
		}
		rw.ident(c)
	}
	rw.w(" FROM ")
	rw.ident(t.Physical)
	rw.w(" WHERE ")
	rw.ident("workspace_id")
	rw.w(" = ")
	rw.str(rw.scope.WorkspaceID)
	if rw.scope.Restricted {
		rw.w(" AND ")
		if len(rw.scope.Resources) == 0 {
			rw.w("0")
		} else {
			rw.ident(t.ScopeColumn)
			rw.w(" IN (")
			for i, r := range rw.scope.Resources {
				if i > 0 {
					rw.w(", ")
				}
				rw.str(r)
			}
			rw.w(")")
		}
	}
	rw.w(" AND ")
	rw.ident("time")
	rw.w(" >= ")
	since := rw.retentionStart(t)
	switch t.Grain {
	case GrainMillis:
		rw.w(strconv.FormatInt(since.UnixMilli(), 10))
	case GrainMinute, GrainHour:
		rw.w("toDateTime(" + strconv.FormatInt(since.Unix(), 10) + ")")
	default:
		rw.w("toDate(")
		rw.str(since.Format("2006-01-02"))
		rw.w(")")
	}
	rw.w(")")
}

func (rw *rewriter) exprs(es []expr) {
	for i, e := range es {
		if i > 0 {
			rw.w(", ")
		}
		rw.expr(e)
	}
}

// expr prints e fully parenthesised, so the tree ClickHouse parses is the
// tree keyline checked, whatever the two parsers' precedence rules.
func (rw *rewriter) expr(e expr) {
	switch e := e.(type) {
	case columnRef:
		if e.qualifier != "" {
			rw.ident(e.qualifier)
			rw.w(".")
		}
		rw.ident(e.name)
	case numberLit:
		rw.w(e.text)
	case stringLit:
		rw.str(e.value)
	case nullLit:
		rw.w("NULL")
	case starExpr:
		rw.w("*")
	case call:
		rw.w(e.name)
		if e.params != nil {
			rw.w("(")
			rw.exprs(e.params)
			rw.w(")")
		}
		rw.w("(")
		if e.distinct {
			rw.w("DISTINCT ")
		}
		rw.exprs(e.args)
		rw.w(")")
	case unary:
		rw.w("(")
		if e.op == "NOT" {
			rw.w("NOT ")
		} else {
			rw.w(e.op)
		}
		rw.expr(e.x)
		rw.w(")")
	case binary:
		switch e.op {
		case "||":
			rw.w("concat(")
			rw.expr(e.l)
			rw.w(", ")
			rw.expr(e.r)
			rw.w(")")
			return
		case "ILIKE", "NOT ILIKE":
			// ILIKE is younger than some supported servers: lower() LIKE lower().
			rw.w("(lower(")
			rw.expr(e.l)
			rw.w(strings.TrimSuffix(") "+e.op, "ILIKE") + "LIKE lower(")
			rw.expr(e.r)
			rw.w("))")
			return
		}
		rw.w("(")
		rw.expr(e.l)
		rw.w(" " + e.op + " ")
		rw.expr(e.r)
		rw.w(")")
	case inExpr:
		rw.w("(")
		rw.expr(e.x)
		if e.not {
			rw.w(" NOT IN (")
		} else {
			rw.w(" IN (")
		}
		if e.sub != nil {
			rw.query(e.sub)
		} else {
			rw.exprs(e.list)
		}
		rw.w("))")
	case betweenExpr:
		// NOT BETWEEN is missing from older servers: print the comparisons.
		if e.not {
			rw.w("(NOT ")
		}
		rw.w("((")
		rw.expr(e.x)
		rw.w(" >= ")
		rw.expr(e.lo)
		rw.w(") AND (")
		rw.expr(e.x)
		rw.w(" <= ")
		rw.expr(e.hi)
		rw.w("))")
		if e.not {
			rw.w(")")
		}
	case isNullExpr:
		if e.not {
			rw.w("isNotNull(")
		} else {
			rw.w("isNull(")
		}
		rw.expr(e.x)
		rw.w(")")
	case tupleExpr:
		rw.w("(")
		rw.exprs(e.items)
		rw.w(")")
	case arrayExpr:
		rw.w("[")
		rw.exprs(e.items)
		rw.w("]")
	case intervalExpr:
		rw.w("INTERVAL ")
		rw.expr(e.x)
		rw.w(" " + e.unit)
	case subqueryExpr:
		rw.w("(")
		rw.query(e.q)
		rw.w(")")
	default:
		panic(fmt.Sprintf("analyticsql: unprintable node %T", e))
	}
}

// ident prints a name backquoted with its backslashes and backquotes
// escaped: a name can never end the quoting early.
func (rw *rewriter) ident(s string) {
	rw.b.WriteByte('`')
	rw.escape(s, '`')
	rw.b.WriteByte('`')
}

// str prints a string literal the same way.
func (rw *rewriter) str(s string) {
	rw.b.WriteByte('\'')
	rw.escape(s, '\'')
	rw.b.WriteByte('\'')
}

func (rw *rewriter) escape(s string, quote byte) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == quote:
			rw.b.WriteByte('\\')
			rw.b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			rw.b.WriteString(`\x`)
			rw.b.WriteByte(hex[c>>4])
			rw.b.WriteByte(hex[c&15])
		default:
			rw.b.WriteByte(c)
		}
	}
}
