package analyticsql

import (
	"strconv"
	"strings"
	"time"
)

// KindUnsupported is a valid query outside what the local store answers
// (see RewriteLocal); Msg names the construct and why.
const KindUnsupported Kind = 100

// RewriteLocal is Rewrite for the local store (the embedded default, or
// PostgreSQL, without ClickHouse): the same parser, the same refusals, the
// same retention check and row cap, and the same confinement (every public
// table becomes a subquery keyline prints, holding only the caller's
// workspace and permitted resources), printed for SQLite or PostgreSQL.
//
// It answers a subset of the language, the per-key, per-outcome,
// per-identity, per-tag and per-time-bucket counts: anything else is a
// KindUnsupported error naming what is missing, never an answer that could
// differ from ClickHouse's. The raw tables are served from counts (see
// LocalVerificationsTable), so a SELECT over them must aggregate.
//
// complete is the oldest instant the local store still holds completely
// (it trims its oldest rows past a bound); a query then sees nothing older,
// and an explicit range starting before it is a KindRetention error.
func RewriteLocal(query string, tables map[string]*Table, scope Scope, lim Limits, now time.Time, d Dialect, complete time.Time) (string, error) {
	if d != SQLite && d != Postgres {
		return "", errf(KindUnsupported, "unknown local dialect")
	}
	q, rw, err := prepare(query, tables, scope, lim, now, complete)
	if err != nil {
		return "", err
	}
	lp := &localPrinter{rw: rw, d: d}
	sql, _, err := lp.query(q)
	if err != nil {
		return "", err
	}
	return sql, nil
}

func unsupported(format string, args ...any) *Error {
	e := errf(KindUnsupported, format, args...)
	e.Msg = "Not supported without ClickHouse (the local analytics store answers a subset of the query language, see the README): " + e.Msg
	return e
}

type localPrinter struct {
	rw *rewriter
	d  Dialect
	// subqueries numbers generated aliases.
	subqueries int
}

// outCol is one column a SELECT yields.
type outCol struct {
	name string
	typ  ltype
}

// level is what one SELECT sees: the columns of its FROM item and the
// rules that come with it.
type level struct {
	cols       map[string]ltype
	missing    map[string]string
	qualifiers map[string]bool
	// weight is the quoted count column of a raw source ("" elsewhere):
	// count() is then SUM(weight), sum(x) SUM(x * weight), and so on.
	weight  string
	tagJoin bool
	aliases map[string]expr
	// expanding holds the aliases being inlined, so that an alias used
	// inside its own definition means the column (sum(count) AS count).
	expanding map[string]bool
	aggOK     bool // aggregates are allowed where we print now
	inAgg     bool
}

const (
	weightCol = `"__kl_n"`
	tagCol    = `"__kl_tag"`
)

func (lp *localPrinter) query(q *query) (string, []outCol, error) {
	if len(q.selects) == 1 {
		return lp.selectStmt(q.selects[0])
	}
	// SQLite allows neither ORDER BY nor LIMIT on a member of a compound
	// SELECT, nor parentheses around one: each member becomes a subquery.
	var b strings.Builder
	var cols []outCol
	for i, s := range q.selects {
		sql, c, err := lp.selectStmt(s)
		if err != nil {
			return "", nil, err
		}
		if i == 0 {
			cols = c
		} else {
			b.WriteString(" UNION ALL ")
			if len(c) != len(cols) {
				return "", nil, errf(KindSyntax, "the members of UNION ALL have different numbers of columns (%d and %d)", len(cols), len(c))
			}
		}
		lp.subqueries++
		b.WriteString("SELECT * FROM (" + sql + ") AS " + quoteIdent("__kl_u"+strconv.Itoa(lp.subqueries)))
	}
	return b.String(), cols, nil
}

func (lp *localPrinter) selectStmt(s *selectStmt) (string, []outCol, error) {
	if err := checkPrivateNames(s); err != nil {
		return "", nil, err
	}
	lv := &level{cols: map[string]ltype{}, qualifiers: map[string]bool{}, aliases: map[string]expr{}, expanding: map[string]bool{}}
	var b strings.Builder
	var fromSQL string
	var starCols []outCol
	f := s.from
	if f.table != nil {
		src := localSources[f.table.Name]
		if src == nil {
			return "", nil, unsupported("table %s", f.table.Name)
		}
		lv.missing = src.missing
		for _, c := range src.columns {
			lv.cols[c.name] = c.typ
			starCols = append(starCols, outCol{c.name, c.typ})
		}
		alias := f.alias
		if alias == "" {
			alias = f.table.Name
		}
		lv.qualifiers[alias] = true
		if src.raw {
			lv.weight = weightCol
			lv.tagJoin = usesArrayJoin(s)
		}
		fromSQL = lp.source(f.table, src, lv.tagJoin) + " AS " + quoteIdent(alias)
	} else {
		sub, cols, err := lp.query(f.sub)
		if err != nil {
			return "", nil, err
		}
		for _, c := range cols {
			lv.cols[c.name] = c.typ
		}
		starCols = cols
		alias := f.alias
		if alias == "" {
			lp.subqueries++
			alias = "__kl_s" + strconv.Itoa(lp.subqueries)
		} else {
			lv.qualifiers[alias] = true
		}
		fromSQL = "(" + sub + ") AS " + quoteIdent(alias)
	}
	for _, it := range s.items {
		if it.alias != "" && !it.star {
			lv.aliases[it.alias] = it.expr
		}
	}
	grouping := len(s.groupBy) > 0 || s.having != nil || hasAggregate(s)
	if lv.weight != "" && !grouping && !s.distinct {
		return "", nil, unsupported("%s can only be read in aggregate (count(), sum(), uniqExact(), ... or GROUP BY); %s",
			f.table.Name, "the local store keeps counts, not single records")
	}

	b.WriteString("SELECT ")
	if s.distinct {
		b.WriteString("DISTINCT ")
	}
	var out []outCol
	lv.aggOK = true
	for i, it := range s.items {
		if i > 0 {
			b.WriteString(", ")
		}
		if it.star {
			if grouping {
				return "", nil, unsupported("SELECT * in an aggregating query")
			}
			if lv.weight != "" {
				return "", nil, unsupported("SELECT * over %s", f.table.Name)
			}
			b.WriteString("*")
			out = append(out, starCols...)
			continue
		}
		name := it.alias
		if name == "" {
			var ok bool
			if name, ok = columnName(it.expr); !ok {
				return "", nil, unsupported("name the expression %s with AS", describe(it.expr))
			}
		}
		// Inside its own definition an alias means the column it shadows:
		// sum(passed) AS passed sums the column.
		lv.expanding[it.alias] = true
		sql, typ, err := lp.val(it.expr, lv)
		delete(lv.expanding, it.alias)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(sql + " AS " + quoteIdent(name))
		out = append(out, outCol{name, typ})
	}
	b.WriteString(" FROM " + fromSQL)
	lv.aggOK = false
	if s.where != nil {
		sql, err := lp.cond(s.where, lv)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(" WHERE " + sql)
	}
	var groupKeys map[string]bool
	if len(s.groupBy) > 0 {
		groupKeys = map[string]bool{}
		b.WriteString(" GROUP BY ")
		for i, g := range s.groupBy {
			if _, ok := g.(numberLit); ok {
				return "", nil, unsupported("GROUP BY a number")
			}
			sql, _, err := lp.val(g, lv)
			if err != nil {
				return "", nil, err
			}
			groupKeys[sql] = true
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(sql)
		}
	}
	lv.aggOK = true
	if grouping {
		// SQLite would answer a column that is neither grouped nor
		// aggregated with the value of an arbitrary row; ClickHouse refuses.
		for _, it := range s.items {
			if !it.star {
				lv.expanding[it.alias] = true
				err := lp.checkGrouped(it.expr, lv, groupKeys)
				delete(lv.expanding, it.alias)
				if err != nil {
					return "", nil, err
				}
			}
		}
		for _, e := range []expr{s.having} {
			if e != nil {
				if err := lp.checkGrouped(e, lv, groupKeys); err != nil {
					return "", nil, err
				}
			}
		}
		for _, o := range s.orderBy {
			if err := lp.checkGrouped(o.expr, lv, groupKeys); err != nil {
				return "", nil, err
			}
		}
	}
	if s.having != nil {
		sql, err := lp.cond(s.having, lv)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(" HAVING " + sql)
	}
	for i, o := range s.orderBy {
		if _, ok := o.expr.(numberLit); ok {
			return "", nil, unsupported("ORDER BY a number")
		}
		sql, typ, err := lp.val(o.expr, lv)
		if err != nil {
			return "", nil, err
		}
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(sql + lp.collate(typ))
		if o.desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
	}
	if s.limit != nil {
		b.WriteString(" LIMIT " + strconv.FormatInt(*s.limit, 10))
		if s.offset != nil {
			b.WriteString(" OFFSET " + strconv.FormatInt(*s.offset, 10))
		}
	}
	return b.String(), out, nil
}

// collate makes PostgreSQL order and compare text by bytes, as ClickHouse
// and SQLite do, whatever the database's collation.
func (lp *localPrinter) collate(t ltype) string {
	if lp.d == Postgres && (t == lStr || t == lTime) {
		return ` COLLATE "C"`
	}
	return ""
}

// source prints the subquery standing for a public table: the caller's
// workspace and permitted resources only, nothing before the retention
// start, and only the public columns (plus, for a raw table, the weight and
// the tag of the tag join, whose names no query may use).
func (lp *localPrinter) source(t *Table, src *localSource, tagJoin bool) string {
	var b strings.Builder
	b.WriteString("(SELECT ")
	var keys []string
	for i, c := range src.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case c.agg != "":
			sql := c.agg
			if lp.d == Postgres && c.typ == lInt {
				sql = "CAST(" + sql + " AS BIGINT)"
			}
			b.WriteString(sql + " AS " + quoteIdent(c.name))
		case c.name == "time" && !src.raw:
			b.WriteString(lp.timeText(`"time" / 1000`, t.Grain) + ` AS "time"`)
			keys = append(keys, strconv.Itoa(i+1))
		default:
			b.WriteString(quoteIdent(c.name))
			keys = append(keys, strconv.Itoa(i+1))
		}
	}
	phys := quoteIdent(src.physical)
	if src.raw {
		b.WriteString(`, "records" AS ` + weightCol)
		if tagJoin {
			b.WriteString(`, "__kl_t".value AS ` + tagCol)
		}
	}
	b.WriteString(" FROM " + phys)
	if tagJoin {
		if lp.d == Postgres {
			b.WriteString(` CROSS JOIN LATERAL jsonb_array_elements_text(CAST(` + phys + `."tags" AS jsonb)) AS "__kl_t"(value)`)
		} else {
			b.WriteString(`, json_each(` + phys + `."tags") AS "__kl_t"`)
		}
	}
	b.WriteString(" WHERE " + phys + `."workspace_id" = ` + lp.str(lp.rw.scope.WorkspaceID))
	if lp.rw.scope.Restricted {
		if len(lp.rw.scope.Resources) == 0 {
			b.WriteString(" AND 1 = 0")
		} else {
			b.WriteString(" AND " + phys + "." + quoteIdent(t.ScopeColumn) + " IN (")
			for i, r := range lp.rw.scope.Resources {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(lp.str(r))
			}
			b.WriteString(")")
		}
	}
	b.WriteString(" AND " + phys + `."time" >= ` + strconv.FormatInt(lp.rw.retentionStart(t).UnixMilli(), 10))
	if !src.raw {
		b.WriteString(" GROUP BY " + strings.Join(keys, ", "))
	}
	b.WriteString(")")
	return b.String()
}

// timeText prints the lTime text of a Unix-seconds expression, floored to
// grain (GrainMillis: to the second).
func (lp *localPrinter) timeText(seconds string, g Grain) string {
	sqliteFmt := map[Grain]string{GrainMillis: "%Y-%m-%dT%H:%M:%SZ", GrainMinute: "%Y-%m-%dT%H:%M:00Z",
		GrainHour: "%Y-%m-%dT%H:00:00Z", GrainDay: "%Y-%m-%dT00:00:00Z", GrainMonth: "%Y-%m-01T00:00:00Z"}[g]
	pgFmt := map[Grain]string{GrainMillis: `YYYY-MM-DD"T"HH24:MI:SS"Z"`, GrainMinute: `YYYY-MM-DD"T"HH24:MI":00Z"`,
		GrainHour: `YYYY-MM-DD"T"HH24":00:00Z"`, GrainDay: `YYYY-MM-DD"T00:00:00Z"`, GrainMonth: `YYYY-MM"-01T00:00:00Z"`}[g]
	if lp.d == Postgres {
		return "to_char(to_timestamp(" + seconds + ") AT TIME ZONE 'UTC', '" + pgFmt + "')"
	}
	return "strftime('" + sqliteFmt + "', " + seconds + ", 'unixepoch')"
}

// checkPrivateNames refuses the names keyline uses inside sources, so no
// query can read the weight or the tag join's columns directly.
func checkPrivateNames(s *selectStmt) error {
	var bad string
	visit := func(e expr) {
		if c, ok := e.(columnRef); ok && (isPrivate(c.name) || isPrivate(c.qualifier)) {
			bad = c.name
		}
	}
	for _, it := range s.items {
		if isPrivate(it.alias) {
			bad = it.alias
		}
		walk(it.expr, visit)
	}
	if s.from.alias != "" && isPrivate(s.from.alias) {
		bad = s.from.alias
	}
	walk(s.where, visit)
	walk(s.having, visit)
	for _, g := range s.groupBy {
		walk(g, visit)
	}
	for _, o := range s.orderBy {
		walk(o.expr, visit)
	}
	if bad != "" {
		return errf(KindSyntax, "Unknown column or alias %q.", bad)
	}
	return nil
}

func isPrivate(name string) bool { return strings.HasPrefix(strings.ToLower(name), "__kl") }

// usesArrayJoin reports an arrayJoin anywhere in s outside its subqueries.
func usesArrayJoin(s *selectStmt) bool {
	found := false
	visit := func(e expr) {
		if c, ok := e.(call); ok && c.name == "arrayJoin" {
			found = true
		}
	}
	for _, it := range s.items {
		walk(it.expr, visit)
	}
	walk(s.where, visit)
	walk(s.having, visit)
	for _, g := range s.groupBy {
		walk(g, visit)
	}
	for _, o := range s.orderBy {
		walk(o.expr, visit)
	}
	return found
}

func hasAggregate(s *selectStmt) bool {
	found := false
	visit := func(e expr) {
		if c, ok := e.(call); ok && functions[strings.ToLower(c.name)].aggregate {
			found = true
		}
	}
	for _, it := range s.items {
		walk(it.expr, visit)
	}
	walk(s.having, visit)
	for _, o := range s.orderBy {
		walk(o.expr, visit)
	}
	return found
}

// checkGrouped refuses a column outside the GROUP BY keys and aggregates.
func (lp *localPrinter) checkGrouped(e expr, lv *level, keys map[string]bool) error {
	sql, _, err := lp.val(e, lv)
	if err != nil {
		return err
	}
	if keys[sql] {
		return nil
	}
	switch e := e.(type) {
	case columnRef:
		if a, ok := lv.aliases[e.name]; ok && e.qualifier == "" && !lv.expanding[e.name] {
			lv.expanding[e.name] = true
			defer delete(lv.expanding, e.name)
			return lp.checkGrouped(a, lv, keys)
		}
		return unsupported("column %s is neither in GROUP BY nor inside an aggregate function", e.name)
	case call:
		if functions[strings.ToLower(e.name)].aggregate {
			return nil
		}
	}
	var first error
	forChildren(e, func(c expr) {
		if first == nil {
			first = lp.checkGrouped(c, lv, keys)
		}
	})
	return first
}

// forChildren calls fn on the direct children of e (not into subqueries).
func forChildren(e expr, fn func(expr)) {
	switch e := e.(type) {
	case call:
		for _, a := range e.params {
			fn(a)
		}
		for _, a := range e.args {
			fn(a)
		}
	case unary:
		fn(e.x)
	case binary:
		fn(e.l)
		fn(e.r)
	case inExpr:
		fn(e.x)
		for _, a := range e.list {
			fn(a)
		}
	case betweenExpr:
		fn(e.x)
		fn(e.lo)
		fn(e.hi)
	case isNullExpr:
		fn(e.x)
	case tupleExpr:
		for _, a := range e.items {
			fn(a)
		}
	case arrayExpr:
		for _, a := range e.items {
			fn(a)
		}
	case intervalExpr:
		fn(e.x)
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// str prints a string literal. Both databases read ” as a quote and a
// backslash as itself (standard_conforming_strings, PostgreSQL's default
// since 9.1 and never changed by keyline).
func (lp *localPrinter) str(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func timeLiteral(t time.Time) string {
	return "'" + t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z") + "'"
}
