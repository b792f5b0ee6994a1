package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureTable is a package table in docs/ARCHITECTURE.md's format, with the
// cells check-imports.sh reads: several names in one row, "root", "anything",
// "none" and a "/*" allowance.
const fixtureTable = "# fixture\n\n## Packages and who may import whom\n\n" +
	"| package | role | may import (internal) |\n" +
	"|---|---|---|\n" +
	"| `events` | pure | none |\n" +
	"| `configs` | pure | none |\n" +
	"| `handlers` | use cases | `events`, `configs`, `handlers/services/*` |\n" +
	"| `handlers/services/cache`, `handlers/services/ring` | services | `events` (the types) |\n" +
	"| `infra/store` | storage | `events`, `configs` |\n" +
	"| root `fixture` | wiring | anything |\n" +
	"\n## Next section\n\n| `stray` | not a rule | anything |\n"

// writeFixture writes a module of one-file packages; imports maps each
// package (relative path, "." for the root) to the internal packages it
// imports.
func writeFixture(t *testing.T, imports map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, content string) {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/fixture\n\ngo 1.22\n")
	write("docs/ARCHITECTURE.md", fixtureTable)
	for pkg, deps := range imports {
		name := filepath.Base(pkg)
		if pkg == "." {
			name = "fixture"
		}
		var src strings.Builder
		src.WriteString("package " + name + "\n\nimport (\n")
		for _, dep := range deps {
			src.WriteString("\t_ \"example.com/fixture/" + dep + "\"\n")
		}
		src.WriteString(")\n")
		write(filepath.Join(pkg, name+".go"), src.String())
	}
	// A test-only import is not a production dependency.
	write("events/events_test.go", "package events\n\nimport _ \"example.com/fixture/infra/store\"\n")
	return dir
}

func runCheckImports(t *testing.T, moduleDir string) (string, bool) {
	t.Helper()
	out, err := exec.Command("bash", "check-imports.sh", moduleDir).CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("run check-imports.sh: %v", err)
	}
	return string(out), err == nil
}

func layeredFixture() map[string][]string {
	return map[string][]string{
		".":                       {"events", "configs", "handlers", "infra/store", "handlers/services/cache"},
		"events":                  nil,
		"configs":                 nil,
		"handlers":                {"events", "configs", "handlers/services/cache", "handlers/services/ring"},
		"handlers/services/cache": {"events"},
		"handlers/services/ring":  {"events"},
		"infra/store":             {"events", "configs"},
	}
}

func TestCheckImportsAcceptsTheTable(t *testing.T) {
	t.Parallel()
	out, ok := runCheckImports(t, writeFixture(t, layeredFixture()))
	if !ok || !strings.Contains(out, "check-imports: 7 packages, no layering violations") {
		t.Fatalf("check-imports.sh refused a layering that follows the table:\n%s", out)
	}
}

func TestCheckImportsRefusesViolations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(map[string][]string)
		want   string
	}{
		{"pure package imports", func(m map[string][]string) { m["events"] = []string{"configs"} },
			"layering violation: events imports configs (events may import only: nothing internal)"},
		{"use case imports infra", func(m map[string][]string) { m["handlers"] = append(m["handlers"], "infra/store") },
			"layering violation: handlers imports infra/store (handlers may import only: events configs handlers/services/...)"},
		{"service imports use cases", func(m map[string][]string) { m["handlers/services/ring"] = []string{"handlers"} },
			"layering violation: handlers/services/ring imports handlers (handlers/services/ring may import only: events)"},
		{"package without a row", func(m map[string][]string) { m["handlers/extra"] = nil },
			"layering violation: handlers/extra has no row in docs/ARCHITECTURE.md's package table"},
		{"row outside the table's section", func(m map[string][]string) {
			m["stray"] = nil
			m["handlers"] = append(m["handlers"], "stray")
		}, "layering violation: handlers imports stray"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			imports := layeredFixture()
			c.change(imports)
			out, ok := runCheckImports(t, writeFixture(t, imports))
			if ok || !strings.Contains(out, c.want) {
				t.Fatalf("check-imports.sh passed or said something else; want %q in:\n%s", c.want, out)
			}
		})
	}
}

// The repository itself follows its table: the same check make lint runs.
func TestRepositoryFollowsThePackageTable(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := runCheckImports(t, root); !ok {
		t.Fatalf("check-imports.sh:\n%s", out)
	}
}
