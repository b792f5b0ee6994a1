package analyticsql

import (
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of expressions and subqueries, so a hostile
// query cannot exhaust the stack of the parser or of ClickHouse's.
const maxDepth = 48

// reserved words end an expression or a clause: they are never read as a
// column name or an implicit alias (quote them to use them as names).
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`SELECT FROM WHERE GROUP BY ORDER HAVING LIMIT OFFSET UNION ALL AS AND OR NOT
		IN LIKE ILIKE BETWEEN IS NULL ASC DESC DISTINCT JOIN INNER LEFT RIGHT FULL CROSS OUTER ANY ARRAY ON USING
		PREWHERE SETTINGS FORMAT INTO SAMPLE FINAL WITH INTERVAL GLOBAL TOTALS EXCEPT INTERSECT CASE WHEN THEN
		ELSE END ASOF SEMI ANTI NULLS`) {
		reserved[w] = true
	}
}

func isReserved(t token) bool { return t.kind == tIdent && reserved[strings.ToUpper(t.text)] }

// parser is a recursive-descent parser for the SELECT subset keyline
// accepts. Whatever it accepts it fully understands: the rewriter prints
// ClickHouse's query back from the tree, never from the caller's text.
type parser struct {
	toks   []token
	i      int
	depth  int
	tables map[string]*Table
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) acceptKeyword(kw string) bool {
	if p.peek().keyword(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	if p.peek().op(op) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKeyword(kw string) error {
	if !p.acceptKeyword(kw) {
		return p.unexpected("expected " + kw)
	}
	return nil
}

func (p *parser) expectOp(op string) error {
	if !p.acceptOp(op) {
		return p.unexpected("expected '" + op + "'")
	}
	return nil
}

func (p *parser) unexpected(what string) *Error {
	t := p.peek()
	switch t.kind {
	case tEOF:
		return syntaxf(t.pos, "%s, found the end of the query", what)
	case tString:
		return syntaxf(t.pos, "%s, found a string", what)
	default:
		return syntaxf(t.pos, "%s, found %q", what, t.text)
	}
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return syntaxf(p.peek().pos, "the query is nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// statementKeywords start statements that are not queries.
var statementKeywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`INSERT CREATE DROP ALTER TRUNCATE RENAME ATTACH DETACH OPTIMIZE SHOW DESCRIBE
		DESC EXISTS KILL SET SYSTEM USE GRANT REVOKE EXPLAIN CHECK DELETE UPDATE REPLACE WATCH BACKUP RESTORE UNDROP
		EXCHANGE MOVE`) {
		statementKeywords[w] = true
	}
}

// parseStatement reads exactly one SELECT statement (an optional trailing
// semicolon aside) and nothing after it.
func (p *parser) parseStatement() (*query, error) {
	t := p.peek()
	if t.kind == tIdent && statementKeywords[strings.ToUpper(t.text)] {
		return nil, errf(KindQueryType, "Only SELECT queries are allowed, not %s.", strings.ToUpper(t.text))
	}
	if t.keyword("WITH") {
		return nil, errf(KindSyntax, "WITH clauses are not supported; use a subquery in FROM.")
	}
	if !t.keyword("SELECT") && !t.op("(") {
		if t.kind == tEOF {
			return nil, errf(KindSyntax, "The query is empty.")
		}
		return nil, errf(KindQueryType, "Only SELECT queries are allowed.")
	}
	q, err := p.parseQuery()
	if err != nil {
		return nil, err
	}
	if err := p.rejectTrailingClauses(); err != nil {
		return nil, err
	}
	p.acceptOp(";")
	if t := p.peek(); t.kind != tEOF {
		if p.toks[p.i-1].op(";") {
			return nil, syntaxf(t.pos, "only one statement is allowed")
		}
		return nil, p.unexpected("expected the end of the query")
	}
	return q, nil
}

// rejectTrailingClauses names the clauses that could change how the server
// runs the query or where its output goes.
func (p *parser) rejectTrailingClauses() error {
	t := p.peek()
	switch {
	case t.keyword("SETTINGS"):
		return syntaxf(t.pos, "SETTINGS is not allowed: keyline sets the query limits")
	case t.keyword("FORMAT"):
		return syntaxf(t.pos, "FORMAT is not allowed: results are always JSON")
	case t.keyword("INTO"):
		return syntaxf(t.pos, "INTO OUTFILE is not allowed")
	case t.keyword("UNION"):
		return syntaxf(t.pos, "only UNION ALL is supported")
	case t.keyword("INTERSECT"), t.keyword("EXCEPT"):
		return syntaxf(t.pos, "%s is not supported", strings.ToUpper(t.text))
	}
	return nil
}

// parseQuery reads SELECT [UNION ALL SELECT ...].
func (p *parser) parseQuery() (*query, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	q := &query{}
	for {
		var s *selectStmt
		var err error
		if p.peek().op("(") && p.peekAt(1).keyword("SELECT") {
			// (SELECT ...) UNION ALL (SELECT ...): a parenthesised member
			// holds exactly one SELECT.
			p.next()
			if s, err = p.parseSelect(); err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
		} else if s, err = p.parseSelect(); err != nil {
			return nil, err
		}
		q.selects = append(q.selects, s)
		if !p.peek().keyword("UNION") || !p.peekAt(1).keyword("ALL") {
			return q, nil
		}
		p.i += 2
	}
}

func (p *parser) parseSelect() (*selectStmt, error) {
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	s := &selectStmt{}
	if p.acceptKeyword("DISTINCT") {
		s.distinct = true
	}
	for {
		item, err := p.parseSelectItem()
		if err != nil {
			return nil, err
		}
		s.items = append(s.items, item)
		if !p.acceptOp(",") {
			break
		}
	}
	if !p.peek().keyword("FROM") {
		return nil, errf(KindTable, "Every SELECT must read FROM one of the tables: %s.", p.tableNames())
	}
	p.next()
	from, err := p.parseFrom()
	if err != nil {
		return nil, err
	}
	s.from = from
	if err := p.rejectJoins(); err != nil {
		return nil, err
	}
	if p.acceptKeyword("WHERE") {
		if s.where, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	if p.peek().keyword("GROUP") {
		p.next()
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		if s.groupBy, err = p.parseExprList(); err != nil {
			return nil, err
		}
		if t := p.peek(); t.keyword("WITH") {
			return nil, syntaxf(t.pos, "WITH TOTALS, ROLLUP and CUBE are not supported")
		}
	}
	if p.acceptKeyword("HAVING") {
		if s.having, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	if p.peek().keyword("ORDER") {
		p.next()
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			item := orderItem{expr: e}
			if p.acceptKeyword("DESC") {
				item.desc = true
			} else {
				p.acceptKeyword("ASC")
			}
			if t := p.peek(); t.keyword("NULLS") || t.keyword("WITH") || t.keyword("COLLATE") {
				return nil, syntaxf(t.pos, "ORDER BY ... %s is not supported", strings.ToUpper(t.text))
			}
			s.orderBy = append(s.orderBy, item)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.acceptKeyword("LIMIT") {
		n, err := p.parseCount()
		if err != nil {
			return nil, err
		}
		switch {
		case p.acceptOp(","):
			m, err := p.parseCount()
			if err != nil {
				return nil, err
			}
			s.offset, s.limit = &n, &m
		case p.acceptKeyword("OFFSET"):
			m, err := p.parseCount()
			if err != nil {
				return nil, err
			}
			s.limit, s.offset = &n, &m
		default:
			s.limit = &n
		}
		if t := p.peek(); t.keyword("BY") || t.keyword("WITH") {
			return nil, syntaxf(t.pos, "LIMIT %s is not supported", strings.ToUpper(t.text))
		}
	}
	return s, nil
}

func (p *parser) tableNames() string {
	names := make([]string, 0, len(p.tables))
	for _, t := range sortedTables(p.tables) {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// parseCount reads a non-negative integer literal (LIMIT and OFFSET).
func (p *parser) parseCount() (int64, error) {
	t := p.peek()
	if t.kind != tNumber {
		return 0, p.unexpected("expected a number")
	}
	n, err := strconv.ParseInt(t.text, 10, 64)
	if err != nil || n < 0 {
		return 0, syntaxf(t.pos, "expected a non-negative integer, found %q", t.text)
	}
	p.next()
	return n, nil
}

func (p *parser) rejectJoins() error {
	t := p.peek()
	if t.op(",") {
		return syntaxf(t.pos, "joins are not supported")
	}
	for _, kw := range []string{"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "ANY", "ALL", "ASOF", "SEMI",
		"ANTI", "GLOBAL", "ARRAY", "OUTER", "PASTE"} {
		if t.keyword(kw) {
			return syntaxf(t.pos, "joins are not supported")
		}
	}
	for _, kw := range []string{"SAMPLE", "FINAL", "PREWHERE"} {
		if t.keyword(kw) {
			return syntaxf(t.pos, "%s is not supported", kw)
		}
	}
	return nil
}

// parseFrom reads a public table name or a parenthesised subquery, each
// with an optional alias. Qualified names (db.table) and table functions
// (url(...), remote(...), ...) are refused here, whatever they name.
func (p *parser) parseFrom() (*fromItem, error) {
	t := p.peek()
	item := &fromItem{}
	switch {
	case t.op("("):
		p.next()
		if !p.peek().keyword("SELECT") && !p.peek().op("(") {
			return nil, p.unexpected("expected a subquery")
		}
		sub, err := p.parseQuery()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		item.sub = sub
	case t.kind == tIdent && !isReserved(t) || t.kind == tQuotedIdent:
		p.next()
		if p.peek().op(".") {
			return nil, errf(KindTable, "Table %q is not allowed: use one of %s, without a database name.",
				t.text+"."+p.peekAt(1).text, p.tableNames())
		}
		if p.peek().op("(") {
			return nil, errf(KindTable, "Table functions such as %s() are not allowed: use one of %s.", t.text, p.tableNames())
		}
		table, ok := p.tables[t.text]
		if !ok {
			return nil, errf(KindTable, "Table %q is not allowed: use one of %s.", t.text, p.tableNames())
		}
		item.table = table
	default:
		return nil, p.unexpected("expected a table name or a subquery")
	}
	alias, err := p.parseAlias()
	if err != nil {
		return nil, err
	}
	item.alias = alias
	return item, nil
}

// parseAlias reads "AS name" or a bare name that is not a reserved word.
func (p *parser) parseAlias() (string, error) {
	if p.acceptKeyword("AS") {
		t := p.peek()
		if t.kind == tQuotedIdent || t.kind == tIdent && !isReserved(t) {
			p.next()
			return t.text, nil
		}
		return "", p.unexpected("expected an alias")
	}
	t := p.peek()
	if t.kind == tQuotedIdent || t.kind == tIdent && !isReserved(t) {
		p.next()
		return t.text, nil
	}
	return "", nil
}

func (p *parser) parseSelectItem() (selectItem, error) {
	if p.acceptOp("*") {
		return selectItem{star: true}, nil
	}
	e, err := p.parseExpr()
	if err != nil {
		return selectItem{}, err
	}
	alias, err := p.parseAlias()
	if err != nil {
		return selectItem{}, err
	}
	return selectItem{expr: e, alias: alias}, nil
}

func (p *parser) parseExprList() ([]expr, error) {
	var out []expr
	for {
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}

// Expressions, lowest precedence first: OR, AND, NOT, comparisons (with
// LIKE, IN, BETWEEN, IS NULL), ||, + -, * / %, unary minus, primaries.
func (p *parser) parseExpr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.parseOr()
}

func (p *parser) parseOr() (expr, error) {
	l, err := p.parseAnd()
	for err == nil && p.acceptKeyword("OR") {
		var r expr
		if r, err = p.parseAnd(); err == nil {
			l = binary{op: "OR", l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseAnd() (expr, error) {
	l, err := p.parseNot()
	for err == nil && p.acceptKeyword("AND") {
		var r expr
		if r, err = p.parseNot(); err == nil {
			l = binary{op: "AND", l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseNot() (expr, error) {
	if p.acceptKeyword("NOT") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return unary{op: "NOT", x: x}, nil
	}
	return p.parseComparison()
}

var comparisonOps = map[string]string{"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (p *parser) parseComparison() (expr, error) {
	l, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if op, ok := comparisonOps[t.text]; ok && t.kind == tOp {
		p.next()
		r, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		return binary{op: op, l: l, r: r}, nil
	}
	not := false
	if t.keyword("NOT") && (p.peekAt(1).keyword("LIKE") || p.peekAt(1).keyword("ILIKE") ||
		p.peekAt(1).keyword("IN") || p.peekAt(1).keyword("BETWEEN")) {
		p.next()
		not = true
		t = p.peek()
	}
	switch {
	case t.keyword("LIKE"), t.keyword("ILIKE"):
		p.next()
		r, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		op := strings.ToUpper(t.text)
		if not {
			op = "NOT " + op
		}
		return binary{op: op, l: l, r: r}, nil
	case t.keyword("IN"):
		p.next()
		return p.parseIn(l, not)
	case t.keyword("BETWEEN"):
		p.next()
		lo, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		if err := p.expectKeyword("AND"); err != nil {
			return nil, err
		}
		hi, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		return betweenExpr{x: l, lo: lo, hi: hi, not: not}, nil
	case t.keyword("IS"):
		p.next()
		isNot := p.acceptKeyword("NOT")
		if err := p.expectKeyword("NULL"); err != nil {
			return nil, err
		}
		return isNullExpr{x: l, not: isNot}, nil
	case t.keyword("GLOBAL"):
		return nil, syntaxf(t.pos, "GLOBAL IN is not supported")
	}
	return l, nil
}

// parseIn reads the right side of IN: a parenthesised list or subquery.
// A bare name is refused: ClickHouse would read `x IN name` as a table.
func (p *parser) parseIn(x expr, not bool) (expr, error) {
	if !p.acceptOp("(") {
		return nil, p.unexpected("expected '(' after IN (a list or a subquery)")
	}
	if p.peek().keyword("SELECT") || p.peek().op("(") && p.peekAt(1).keyword("SELECT") {
		sub, err := p.parseQuery()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return inExpr{x: x, not: not, sub: sub}, nil
	}
	list, err := p.parseExprList()
	if err != nil {
		return nil, err
	}
	if err := p.expectOp(")"); err != nil {
		return nil, err
	}
	return inExpr{x: x, not: not, list: list}, nil
}

func (p *parser) parseConcat() (expr, error) {
	l, err := p.parseAdditive()
	for err == nil && p.acceptOp("||") {
		var r expr
		if r, err = p.parseAdditive(); err == nil {
			l = binary{op: "||", l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseAdditive() (expr, error) {
	l, err := p.parseMultiplicative()
	for err == nil && (p.peek().op("+") || p.peek().op("-")) {
		op := p.next().text
		var r expr
		if r, err = p.parseMultiplicative(); err == nil {
			l = binary{op: op, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseMultiplicative() (expr, error) {
	l, err := p.parseUnary()
	for err == nil && (p.peek().op("*") || p.peek().op("/") || p.peek().op("%")) {
		op := p.next().text
		var r expr
		if r, err = p.parseUnary(); err == nil {
			l = binary{op: op, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseUnary() (expr, error) {
	if p.acceptOp("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return unary{op: "-", x: x}, nil
	}
	return p.parsePrimary()
}

var intervalUnits = map[string]bool{"SECOND": true, "MINUTE": true, "HOUR": true, "DAY": true, "WEEK": true,
	"MONTH": true, "QUARTER": true, "YEAR": true}

func (p *parser) parsePrimary() (expr, error) {
	t := p.peek()
	switch {
	case t.kind == tNumber:
		p.next()
		return numberLit{text: t.text}, nil
	case t.kind == tString:
		p.next()
		return stringLit{value: t.text}, nil
	case t.keyword("NULL"):
		p.next()
		return nullLit{}, nil
	case t.keyword("INTERVAL"):
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		u := p.peek()
		unit := strings.ToUpper(u.text)
		if u.kind != tIdent || !intervalUnits[unit] {
			return nil, p.unexpected("expected an interval unit (SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR)")
		}
		p.next()
		return intervalExpr{x: x, unit: unit}, nil
	case t.keyword("CASE"):
		return nil, syntaxf(t.pos, "CASE is not supported; use if() or multiIf()")
	case t.op("("):
		p.next()
		if p.peek().keyword("SELECT") || p.peek().op("(") && p.peekAt(1).keyword("SELECT") {
			sub, err := p.parseQuery()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return subqueryExpr{q: sub}, nil
		}
		items, err := p.parseExprList()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		if len(items) == 1 {
			return items[0], nil
		}
		return tupleExpr{items: items}, nil
	case t.op("["):
		p.next()
		var items []expr
		if !p.peek().op("]") {
			var err error
			if items, err = p.parseExprList(); err != nil {
				return nil, err
			}
		}
		if err := p.expectOp("]"); err != nil {
			return nil, err
		}
		return arrayExpr{items: items}, nil
	case t.kind == tIdent && p.peekAt(1).op("("):
		return p.parseCall()
	case t.kind == tQuotedIdent || t.kind == tIdent && !isReserved(t):
		p.next()
		if !p.peek().op(".") {
			return columnRef{name: t.text}, nil
		}
		p.next()
		c := p.next()
		if c.kind != tQuotedIdent && (c.kind != tIdent || isReserved(c)) {
			p.i--
			return nil, p.unexpected("expected a column name after '.'")
		}
		if p.peek().op(".") || p.peek().op("(") {
			return nil, p.unexpected("expected a column reference (table.column)")
		}
		return columnRef{qualifier: t.text, name: c.text}, nil
	}
	return nil, p.unexpected("expected an expression")
}

// parseCall reads an allow-listed function call: name(args),
// name(DISTINCT args), count(*), or a parametric aggregate such as
// quantile(0.99)(latency).
func (p *parser) parseCall() (expr, error) {
	nameTok := p.next()
	fn, ok := functions[strings.ToLower(nameTok.text)]
	if !ok {
		return nil, errf(KindFunction, "Function %q is not allowed. Allowed functions: %s.", nameTok.text, functionList())
	}
	p.next() // (
	c := call{name: fn.name}
	args, distinct, err := p.parseArgs(fn)
	if err != nil {
		return nil, err
	}
	c.args, c.distinct = args, distinct
	if p.peek().op("(") {
		if !fn.parametric || distinct {
			return nil, p.unexpected("unexpected '(' after " + fn.name + "(...)")
		}
		p.next()
		c.params = c.args
		if c.args, c.distinct, err = p.parseArgs(fn); err != nil {
			return nil, err
		}
		if c.distinct {
			return nil, syntaxf(nameTok.pos, "DISTINCT is not supported in %s", fn.name)
		}
	}
	return c, nil
}

// parseArgs reads the arguments after '(' up to and including ')'.
func (p *parser) parseArgs(fn function) ([]expr, bool, error) {
	if p.acceptOp(")") {
		return nil, false, nil
	}
	if fn.name == "count" && p.peek().op("*") && p.peekAt(1).op(")") {
		p.i += 2
		return []expr{starExpr{}}, false, nil
	}
	distinct := false
	if p.peek().keyword("DISTINCT") {
		if !fn.aggregate {
			return nil, false, p.unexpected("DISTINCT is only allowed in aggregate functions")
		}
		p.next()
		distinct = true
	}
	args, err := p.parseExprList()
	if err != nil {
		return nil, false, err
	}
	if err := p.expectOp(")"); err != nil {
		return nil, false, err
	}
	return args, distinct, nil
}
