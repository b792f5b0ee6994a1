package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// resourceURL names the whole OpenAPI document inside the schema compiler.
// Loading the document as one resource lets "#/components/schemas/..." refs
// resolve the way they do in the spec. The .invalid host guarantees nothing
// is ever fetched from it.
const resourceURL = "https://keyline.invalid/keyline-openapi.json"

// Failure is why a request body was rejected. The HTTP layer renders it as
// Unkey's 400 invalid_input problem, with Errors as error.errors.
type Failure struct {
	// Detail is the problem's detail, e.g.
	// "POST request body for '/v2/apis.createApi' failed to validate schema".
	Detail string
	// Errors has one entry per violated schema keyword, ordered by location
	// then message.
	Errors []FieldError
}

// FieldError is one entry of a 400 problem's errors array, in Unkey's wire
// format.
type FieldError struct {
	// Location is the JSON-schema keyword location relative to the request
	// body schema, e.g. "/properties/name/minLength". Unkey reports keyword
	// locations, not body paths, and clients match on them.
	Location string `json:"location"`
	// Message is "<keyword>: <reason>", e.g. "minLength: got 2, want 3".
	Message string `json:"message"`
	// Fix names the offending part of the request body.
	Fix string `json:"fix,omitempty"`
}

// Validator checks request bodies against the request schemas of the
// embedded spec. It is immutable after construction and safe for concurrent
// use.
type Validator struct {
	bodies map[string]*bodySchema
	paths  []string
}

type bodySchema struct {
	schema *jsonschema.Schema
	// ranged is schema with "format: int64" (int32) asserted as a range.
	ranged *jsonschema.Schema
	// stripRef is set when the body schema is a bare $ref: keyword locations
	// then start with "/$ref", which Unkey does not report.
	stripRef bool
	detail   string
	// flat, when the schema is simple enough, accepts the common valid
	// bodies without decoding them (see flatObject).
	flat *flatObject
}

var (
	sharedValidator = sync.OnceValues(func() (*Validator, error) { return newValidator(spec) })
	printer         = message.NewPrinter(language.English)
)

// NewValidator compiles the request-body schema of every POST operation in
// the embedded spec. The work is done once per process and the result shared:
// compiling per request was a known CPU sink in Unkey.
func NewValidator() (*Validator, error) {
	return sharedValidator()
}

func newValidator(specYAML []byte) (*Validator, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(specYAML, &root); err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	doc, err := jsonValue(&root)
	if err != nil {
		return nil, fmt.Errorf("convert OpenAPI document: %w", err)
	}
	docMap, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("OpenAPI document is not an object")
	}

	c := jsonschema.NewCompiler()
	// OpenAPI 3.1 schema objects are JSON Schema 2020-12. Unknown keywords
	// (example, x-*) are annotations under that draft, so they compile fine.
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(resourceURL, docMap); err != nil {
		return nil, err
	}
	// The request schemas mark every 64-bit field "format: int64", and their
	// maxima are written as 9223372036854776000 (the float spelling of
	// 2^63), which lets 2^63 through to a decoder that cannot hold it. A
	// second compilation asserts the integer formats as ranges; it runs
	// only on bodies the first accepted and that hold a number too long for
	// an int64 (see validate), so every other report stays as it was.
	// Only the integer formats appear in request schemas. An integer
	// without a format (keys.verifyKey's ratelimits) is an int64 to keyline
	// too, so this compilation gives it one.
	cr := jsonschema.NewCompiler()
	cr.DefaultDraft(jsonschema.Draft2020)
	cr.AssertFormat()
	cr.RegisterFormat(&jsonschema.Format{Name: "int64", Validate: integerFormat(math.MinInt64, math.MaxInt64)})
	cr.RegisterFormat(&jsonschema.Format{Name: "int32", Validate: integerFormat(math.MinInt32, math.MaxInt32)})
	if err := cr.AddResource(resourceURL, withInt64Format(docMap)); err != nil {
		return nil, err
	}

	v := &Validator{bodies: map[string]*bodySchema{}}
	paths, _ := docMap["paths"].(map[string]any)
	for path, item := range paths {
		post, _ := asMap(item)["post"].(map[string]any)
		if post == nil {
			continue
		}
		ptr, schema, err := requestSchema(docMap, path, post)
		if err != nil {
			return nil, fmt.Errorf("POST %s: %w", path, err)
		}
		if schema == nil {
			continue
		}
		compiled, err := c.Compile(resourceURL + "#" + ptr)
		if err != nil {
			return nil, fmt.Errorf("POST %s: compile request schema: %w", path, err)
		}
		ranged, err := cr.Compile(resourceURL + "#" + ptr)
		if err != nil {
			return nil, fmt.Errorf("POST %s: compile request schema with integer ranges: %w", path, err)
		}
		_, bareRef := schema["$ref"].(string)
		v.bodies[path] = &bodySchema{
			schema:   compiled,
			ranged:   ranged,
			stripRef: bareRef,
			flat:     deriveFlat(docMap, schema),
			detail:   fmt.Sprintf("POST request body for '%s' failed to validate schema", path),
		}
		v.paths = append(v.paths, path)
	}
	slices.Sort(v.paths)
	return v, nil
}

// requestSchema finds the application/json request schema of op and returns
// its JSON pointer (URL-fragment encoded) and value; a nil schema means the
// operation takes no JSON body.
func requestSchema(doc map[string]any, path string, op map[string]any) (string, map[string]any, error) {
	ptr := []string{"paths", path, "post", "requestBody"}
	body := asMap(op["requestBody"])
	if ref, ok := body["$ref"].(string); ok {
		// A shared components/requestBodies entry: compile it where it lives.
		tokens, target, err := resolveLocal(doc, ref)
		if err != nil {
			return "", nil, err
		}
		ptr, body = tokens, asMap(target)
	}
	schema, ok := asMap(asMap(asMap(body["content"])["application/json"]))["schema"].(map[string]any)
	if !ok {
		return "", nil, nil
	}
	ptr = append(ptr, "content", "application/json", "schema")
	return encodePointer(ptr), schema, nil
}

// ValidateBody validates a POST body for path (e.g. "/v2/apis.createApi").
// It returns nil when the body is valid or path has no request schema.
func (v *Validator) ValidateBody(path string, body []byte) *Failure {
	b, ok := v.bodies[path]
	if !ok || (b.flat != nil && b.flat.accepts(body)) {
		return nil
	}
	return b.validate(body)
}

// validate runs the full schema validation of body and reports every
// violation.
func (b *bodySchema) validate(body []byte) *Failure {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers stay json.Number so that 9007199254740993 is checked against
	// minimum/maximum as sent, not as a rounded float64.
	dec.UseNumber()
	var inst any
	err := dec.Decode(&inst)
	if err == nil {
		if _, tokErr := dec.Token(); tokErr != io.EOF {
			err = errors.New("unexpected data after top-level value")
		}
	}
	if err != nil {
		return &Failure{Detail: b.detail, Errors: []FieldError{{
			Location: "/",
			Message:  "request body is not valid JSON: " + jsonReason(err),
		}}}
	}

	text := textChecker{badUTF8: !utf8.Valid(body) || hasLoneSurrogate(body)}
	long := text.walk(inst, "", "")
	err = b.schema.Validate(inst)
	if err == nil && long {
		err = b.ranged.Validate(inst)
	}
	nul := text.errors()
	if err == nil && nul == nil {
		return nil
	}
	f := &Failure{Detail: b.detail}
	var ve *jsonschema.ValidationError
	switch {
	case err == nil:
	case !errors.As(err, &ve):
		f.Errors = []FieldError{{Location: "/", Message: err.Error()}}
	default:
		collect(ve, "", "", &f.Errors)
		if b.stripRef {
			for i := range f.Errors {
				f.Errors[i].Location = stripRefPrefix(f.Errors[i].Location)
			}
		}
	}
	f.Errors = append(f.Errors, nul...)
	slices.SortFunc(f.Errors, func(a, b FieldError) int {
		if c := strings.Compare(a.Location, b.Location); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return f
}

// Operations returns the POST paths that have a request schema, sorted.
func (v *Validator) Operations() []string {
	return slices.Clone(v.paths)
}

// HasPath reports whether path has a request schema to validate against.
func (v *Validator) HasPath(path string) bool {
	_, ok := v.bodies[path]
	return ok
}

// collect appends one FieldError per leaf of the error tree. It tracks the
// keyword location (the path through the schema, $refs included) the same way
// the library's basic output format does, because that is what Unkey reports.
func collect(e *jsonschema.ValidationError, parentURL, kwLoc string, out *[]FieldError) {
	ref, isRef := e.ErrorKind.(*kind.Reference)
	if parentURL != "" {
		kwLoc += strings.TrimPrefix(e.SchemaURL, parentURL)
		if isRef {
			kwLoc += "/" + ref.Keyword
		}
	}
	if len(e.Causes) == 0 {
		loc := kwLoc
		if !isRef {
			loc += jsonPointer(e.ErrorKind.KeywordPath())
		}
		if loc == "" {
			loc = "/"
		}
		*out = append(*out, FieldError{
			Location: loc,
			Message:  messageFor(e.ErrorKind),
			Fix:      fixFor(e.ErrorKind, e.InstanceLocation),
		})
		return
	}
	schemaURL := e.SchemaURL
	if isRef {
		schemaURL = ref.URL
	}
	for _, c := range e.Causes {
		collect(c, schemaURL, kwLoc, out)
	}
}

// messageFor renders an error kind as Unkey does: "<keyword>: <reason>".
// Kinds keyline clients are likely to hit are spelled out here so the wire
// text does not drift with the library's wording.
func messageFor(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Required:
		return "required: missing properties: " + joinQuoted(k.Missing)
	case *kind.AdditionalProperties:
		// The library lists them in map order; sort for stable responses.
		props := slices.Sorted(slices.Values(k.Properties))
		return "additionalProperties: additional properties " + joinQuoted(props) + " not allowed"
	case *kind.Type:
		return fmt.Sprintf("type: got %s, want %s", k.Got, strings.Join(k.Want, " or "))
	case *kind.MinLength:
		return fmt.Sprintf("minLength: got %d, want %d", k.Got, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("maxLength: got %d, want %d", k.Got, k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("minItems: got %d, want %d", k.Got, k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("maxItems: got %d, want %d", k.Got, k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("minProperties: got %d, want %d", k.Got, k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("maxProperties: got %d, want %d", k.Got, k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("minimum: got %s, want %s", ratString(k.Got), ratString(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("maximum: got %s, want %s", ratString(k.Got), ratString(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("exclusiveMinimum: got %s, want %s", ratString(k.Got), ratString(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("exclusiveMaximum: got %s, want %s", ratString(k.Got), ratString(k.Want))
	case *kind.Format:
		return fmt.Sprintf("format: got %v, want %s", k.Got, k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("pattern: %s does not match pattern %s", quote(k.Got), quote(k.Want))
	}
	msg := k.LocalizedString(printer)
	if kp := k.KeywordPath(); len(kp) > 0 && !strings.HasPrefix(msg, kp[0]+":") {
		msg = kp[0] + ": " + msg
	}
	return msg
}

// fixFor points at the offending part of the body: the keyword location says
// which rule failed, the instance location says where.
func fixFor(k jsonschema.ErrorKind, instance []string) string {
	where := "the request body"
	if len(instance) > 0 {
		where = "'" + jsonPointer(instance) + "' in the request body"
	}
	switch k := k.(type) {
	case *kind.Required:
		return "add " + joinQuoted(k.Missing) + " to " + where
	case *kind.AdditionalProperties:
		return "remove " + joinQuoted(slices.Sorted(slices.Values(k.Properties))) + " from " + where
	}
	return "correct the value of " + where
}

// withInt64Format returns a deep copy of a decoded document in which every
// integer schema without a format has "format: int64".
func withInt64Format(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, x := range v {
			out[k] = withInt64Format(x)
		}
		if _, ok := v["format"]; !ok && isIntegerType(v["type"]) {
			out["format"] = "int64"
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withInt64Format(x)
		}
		return out
	}
	return v
}

func isIntegerType(t any) bool {
	switch t := t.(type) {
	case string:
		return t == "integer"
	case []any:
		return slices.Contains(t, any("integer"))
	}
	return false
}

// integerFormat validates an integer format as a range: JSON numbers
// (json.Number, the decoder uses UseNumber) must be integers within
// [lo, hi]; other types are not the format's business.
func integerFormat(lo, hi int64) func(any) error {
	min, max := big.NewRat(lo, 1), big.NewRat(hi, 1)
	return func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return nil
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !r.IsInt() || r.Cmp(min) < 0 || r.Cmp(max) > 0 {
			return fmt.Errorf("not an integer in [%d, %d]", lo, hi)
		}
		return nil
	}
}

func stripRefPrefix(loc string) string {
	switch {
	case loc == "/$ref":
		return "/"
	case strings.HasPrefix(loc, "/$ref/"):
		return loc[len("/$ref"):]
	}
	return loc
}

// jsonReason shortens encoding/json's errors to what a client can act on.
func jsonReason(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON input"
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	}
	return err.Error()
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// quote matches the library's quoting: single quotes, Go escapes inside.
func quote(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	return "'" + strings.ReplaceAll(q, `'`, `\'`) + "'"
}

func joinQuoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return sb.String()
}

// encodePointer builds a JSON pointer usable as a URL fragment.
func encodePointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")))
	}
	return sb.String()
}

// resolveLocal follows a "#/..." reference within doc and returns the target's
// path tokens and value.
func resolveLocal(doc map[string]any, ref string) ([]string, any, error) {
	frag, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, nil, fmt.Errorf("$ref %q is not local", ref)
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	tokens := strings.Split(frag, "/")
	var cur any = doc
	for i, t := range tokens {
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		tokens[i] = t
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[t]; !ok {
			return nil, nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return tokens, cur, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// jsonValue converts a YAML node into the values encoding/json would produce
// for the same document (numbers as json.Number), which is what the schema
// compiler expects.
func jsonValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return jsonValue(n.Content[0])
	case yaml.AliasNode:
		return jsonValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := jsonValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			var x any
			if err := n.Decode(&x); err != nil {
				return nil, err
			}
			switch x := x.(type) {
			case int:
				return json.Number(strconv.Itoa(x)), nil
			case int64:
				return json.Number(strconv.FormatInt(x, 10)), nil
			case uint64:
				return json.Number(strconv.FormatUint(x, 10)), nil
			case float64:
				if b, err := json.Marshal(x); err == nil {
					return json.Number(b), nil
				}
				return nil, fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return nil, fmt.Errorf("line %d: unexpected number %q", n.Line, n.Value)
		}
		// Timestamps and other tags stay strings, as in the JSON form of
		// the document.
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
