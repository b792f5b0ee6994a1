package configs

// Validation against the embedded schema.json, and the rendering of its
// errors into one line per problem with the JSON path an operator can find
// in the file.

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

const schemaURL = "https://github.com/keyline/keyline/configs/schema.json"

var (
	schemaOnce sync.Once
	schemaC    *jsonschema.Schema
	schemaErr  error
)

// compiledSchema compiles schema.json on first use; compiling costs more
// than a validation and the result is immutable, so it is shared.
func compiledSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			schemaErr = fmt.Errorf("config: embedded schema.json: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource(schemaURL, doc); err != nil {
			schemaErr = fmt.Errorf("config: embedded schema.json: %w", err)
			return
		}
		schemaC, schemaErr = c.Compile(schemaURL)
		if schemaErr != nil {
			schemaErr = fmt.Errorf("config: embedded schema.json: %w", schemaErr)
		}
	})
	return schemaC, schemaErr
}

// patternHints replace regular expressions in messages with what they mean.
// A test checks that every pattern in schema.json has an entry.
var patternHints = map[string]string{
	`^(postgres|postgresql)://.+|^sqlite:.+`:   "must be a postgres://…, postgresql://… or sqlite:PATH URL",
	`^https?://.+`:                             "must be an http:// or https:// URL",
	`^rediss?://.+`:                            "must be a redis:// or rediss:// URL",
	`^(clickhouse|https?)://.+`:                "must be a clickhouse://host:9000 or http(s)://host:8123 URL",
	`^[0-9]{1,5}$`:                             "must be a port number written as a string of 1 to 5 digits",
	`^https?://[^/?#\s]+(/[^?#\s]*[^/?#\s])?$`: "must be an absolute http:// or https:// base URL without query, fragment or trailing slash",
}

// schemaProblems flattens the library's error tree to its leaves, which are
// the actionable messages; inner nodes only say "validation failed".
func schemaProblems(err error) []string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []string{err.Error()}
	}
	var out []problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, describe(e)...)
	}
	walk(verr)
	return render(out)
}

// describe renders one leaf error. Offending string values are never
// echoed: after env expansion they may be secrets.
func describe(e *jsonschema.ValidationError) []problem {
	loc := e.InstanceLocation
	at := func(msg string, args ...any) []problem {
		return []problem{{pointer(loc), fmt.Sprintf(msg, args...)}}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		var out []problem
		for _, name := range k.Missing {
			out = append(out, problem{pointer(append(slices.Clip(loc), name)), "required field missing"})
		}
		return out
	case *kind.AdditionalProperties:
		var out []problem
		for _, name := range k.Properties {
			out = append(out, problem{pointer(append(slices.Clip(loc), name)), "unknown field (additional property not allowed)"})
		}
		return out
	case *kind.Type:
		return at("expected %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Minimum:
		return at("must be >= %s, got %s", k.Want.RatString(), k.Got.RatString())
	case *kind.Maximum:
		return at("must be <= %s, got %s", k.Want.RatString(), k.Got.RatString())
	case *kind.ExclusiveMinimum:
		return at("must be > %s, got %s", k.Want.RatString(), k.Got.RatString())
	case *kind.ExclusiveMaximum:
		return at("must be < %s, got %s", k.Want.RatString(), k.Got.RatString())
	case *kind.MinLength:
		return at("must be at least %s long, got %d", plural(k.Want, "character"), k.Got)
	case *kind.MaxLength:
		return at("must be at most %s long, got %d", plural(k.Want, "character"), k.Got)
	case *kind.MinItems:
		return at("must have at least %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MaxItems:
		return at("must have at most %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MinProperties:
		if pointer(loc) == "/cluster/discovery" {
			return at("must set exactly one discovery method (static or redis), got none")
		}
		return at("must have at least %s, got %d", plural(k.Want, "field"), k.Got)
	case *kind.MaxProperties:
		if pointer(loc) == "/cluster/discovery" {
			return at("must set exactly one discovery method (static or redis), got %d", k.Got)
		}
		return at("must have at most %s, got %d", plural(k.Want, "field"), k.Got)
	case *kind.Pattern:
		if hint, ok := patternHints[k.Want]; ok {
			return at("%s", hint)
		}
		return at("must match pattern %s", k.Want)
	case *kind.Enum:
		// The allowed values come from the schema, so they are safe to show.
		allowed := make([]string, len(k.Want))
		for i, w := range k.Want {
			allowed[i] = fmt.Sprintf("%q", w)
		}
		return at("must be one of %s", strings.Join(allowed, ", "))
	case *kind.OneOf:
		return at("must match exactly one alternative, matched %d", len(k.Subschemas))
	case *kind.FalseSchema:
		return at("is not allowed")
	default:
		return at("fails schema keyword %q", strings.Join(e.ErrorKind.KeywordPath(), "/"))
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// problem is one finding before rendering. It stays structured so the
// report can be ordered by location, a parent before its children; sorting
// the rendered lines would put "/a/b: …" before "/a: …" since '/' < ':'.
type problem struct{ path, msg string }

func render(ps []problem) []string {
	slices.SortFunc(ps, func(a, b problem) int {
		return cmp.Or(strings.Compare(a.path, b.path), strings.Compare(a.msg, b.msg))
	})
	ps = slices.Compact(ps)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.path + ": " + p.msg
	}
	return out
}

// pointer renders an instance location as an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return "(root)"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}
