package analyticsql

import "fmt"

// Kind classifies a rejected query; the use case maps each kind to one of
// Unkey's analytics error codes.
type Kind int

const (
	// KindSyntax: not valid SQL, or SQL outside the supported subset.
	KindSyntax Kind = iota
	// KindQueryType: a statement other than SELECT.
	KindQueryType
	// KindTable: a table that is not one of the public tables (physical
	// names, system tables, table functions, other databases).
	KindTable
	// KindFunction: a function outside the allow-list.
	KindFunction
	// KindRetention: an explicit time range older than the retention.
	KindRetention
	// KindLength: the query is longer than the maximum length.
	KindLength
)

// Error is a rejected query. Msg is safe to show to the caller.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func syntaxf(pos int, format string, args ...any) *Error {
	return &Error{Kind: KindSyntax, Msg: fmt.Sprintf("syntax error at position %d: ", pos+1) + fmt.Sprintf(format, args...)}
}

// query is a SELECT or several joined by UNION ALL.
type query struct {
	selects []*selectStmt
}

type selectStmt struct {
	distinct bool
	items    []selectItem
	from     *fromItem
	where    expr
	groupBy  []expr
	having   expr
	orderBy  []orderItem
	limit    *int64
	offset   *int64
}

type selectItem struct {
	star  bool
	expr  expr
	alias string
}

// fromItem is either one public table or a subquery. A public table is
// printed as a subquery keyline generates (see rewriter.source), so no
// reference to it can ever see another workspace's rows.
type fromItem struct {
	table *Table
	sub   *query
	alias string
}

type orderItem struct {
	expr expr
	desc bool
}

// expr is an expression node. The set of node types is closed: the printer
// handles each one, and anything else cannot be built by the parser.
type expr interface{ isExpr() }

type (
	columnRef struct{ qualifier, name string }
	numberLit struct{ text string }
	stringLit struct{ value string }
	nullLit   struct{}
	starExpr  struct{} // only as count(*)'s argument
	call      struct {
		name     string // canonical spelling from the allow-list
		params   []expr // quantile(0.9)(x): the (0.9)
		args     []expr
		distinct bool
	}
	unary struct {
		op string // "-" or "NOT"
		x  expr
	}
	binary struct {
		op   string
		l, r expr
	}
	inExpr struct {
		x    expr
		not  bool
		list []expr
		sub  *query
	}
	betweenExpr struct {
		x, lo, hi expr
		not       bool
	}
	isNullExpr struct {
		x   expr
		not bool
	}
	tupleExpr    struct{ items []expr }
	arrayExpr    struct{ items []expr }
	intervalExpr struct {
		x    expr
		unit string
	}
	subqueryExpr struct{ q *query }
)

func (columnRef) isExpr()    {}
func (numberLit) isExpr()    {}
func (stringLit) isExpr()    {}
func (nullLit) isExpr()      {}
func (starExpr) isExpr()     {}
func (call) isExpr()         {}
func (unary) isExpr()        {}
func (binary) isExpr()       {}
func (inExpr) isExpr()       {}
func (betweenExpr) isExpr()  {}
func (isNullExpr) isExpr()   {}
func (tupleExpr) isExpr()    {}
func (arrayExpr) isExpr()    {}
func (intervalExpr) isExpr() {}
func (subqueryExpr) isExpr() {}
