package docs_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tenantflow/tenantflow/"

// layers is the order docs/architecture.md describes: a package may import
// its own layer and the layers before it, never one after it. Packages not
// named here are libraries (adapters, internal helpers): any layer may use
// them, and they may use no layer above eventstore's neighbours (see
// libraryMay).
var layers = [][]string{
	{"domain"},
	{"eventstore", "schemas", "migrations"},
	{"app"},
	{"handlers", "projections"},
	{"api"},
	{"internal/config", "internal/service"},
	{"cmd", "bench", "devstack"},
}

// domainMay is what the domain imports besides the standard library: a
// JSON codec, which does no I/O (see domain.Decode).
var domainMay = []string{"github.com/segmentio/encoding/json"}

// libraryMay is the highest layer a library may import: the event store's
// (the relay's publisher port, the repositories' metadata), never a use
// case, a step or the API.
const libraryMay = 1

func layerOf(pkg string) int {
	for i, names := range layers {
		for _, n := range names {
			if pkg == n || strings.HasPrefix(pkg, n+"/") {
				return i
			}
		}
	}
	return -1
}

// serviceImports calls fn with every module-internal import of every
// non-test Go file of the service (test helpers and tools apart): the
// file, its package and the imported package, both relative to the module.
// It fails t when it finds none.
func serviceImports(t *testing.T, fn func(path, pkg, target string)) {
	t.Helper()
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel("..", filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if strings.HasPrefix(pkg, "internal/testkit") || strings.HasPrefix(pkg, "internal/tools") {
			return nil // test helpers and tools: not part of the service
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			target, _ := strconv.Unquote(imp.Path.Value)
			if pkg == "domain" && strings.Contains(target, ".") && !slices.Contains(domainMay, target) {
				t.Errorf("%s imports %s: the domain uses the standard library only (and %v)", path, target, domainMay)
			}
			if inner, ok := strings.CutPrefix(target, module); ok {
				fn(path, pkg, inner)
				checked++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no module import checked: the walk found no package")
	}
}

// TestNoImportRunsBackUpTheLayers reads every non-test Go file's imports.
func TestNoImportRunsBackUpTheLayers(t *testing.T) {
	serviceImports(t, func(path, pkg, target string) {
		from, to := layerOf(pkg), layerOf(target)
		switch {
		case to < 0:
		case from < 0 && to > libraryMay:
			t.Errorf("%s (a library) imports %s, of layer %v", path, target, layers[to])
		case from >= 0 && to > from:
			t.Errorf("%s (layer %v) imports %s (layer %v): an arrow running back up", path, layers[from], target, layers[to])
		}
	})
}

// TestWireFormatIsSpelledOnce: the record headers and the stream names are
// eventstore/wire's; a service file that spells one out would drift from
// the relay the day the format changes. (Tests spell the format out on
// purpose: they check the contract.)
func TestWireFormatIsSpelledOnce(t *testing.T) {
	// A stream is "<prefix>-" and an id, or a variable named for one;
	// realm, bucket and subscriber names share the prefix but are not streams.
	spelled := regexp.MustCompile(`"ce_[a-z]+"|"(tenant|lead|tenantconfig)-" *\+ *[a-zA-Z.]*(ID|Id|id)\)* *($|[,;)\]}])|Prefix\([a-zA-Z.]*(stream|Stream|subject|s)\b[^,]*, "(tenant|lead|tenantconfig)-"\)`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.ToSlash(filepath.Dir(path)) == "../eventstore/wire" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := spelled.FindString(line); m != "" {
				t.Errorf("%s:%d spells the wire format (%s): use eventstore/wire", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// engineTools are the packages under handlers/ that serve the engine and
// operators rather than do a step.
var engineTools = []string{"handlers/step", "handlers/middleware", "handlers/deadletters", "handlers/drift", "handlers/faults"}

// TestStepPackagesStandAlone: a step's back end knows its step's port
// (handlers/step) and the domain, never another step, the engine or the
// event store — so a step can be read, tested and replaced alone.
func TestStepPackagesStandAlone(t *testing.T) {
	steps := map[string]bool{}
	serviceImports(t, func(path, pkg, target string) {
		if !strings.HasPrefix(pkg, "handlers/") || slices.ContainsFunc(engineTools, func(tool string) bool { return pkg == tool || strings.HasPrefix(pkg, tool+"/") }) {
			return
		}
		steps[pkg] = true
		if (strings.HasPrefix(target, "handlers") && target != "handlers/step") || target == "eventstore" || strings.HasPrefix(target, "eventstore/") ||
			target == "app" || target == "projections" || target == "api" {
			t.Errorf("%s (a step) imports %s: a step knows handlers/step and the domain only", path, target)
		}
	})
	if len(steps) == 0 {
		t.Fatal("no step package found under handlers/")
	}
}

// TestAPIGoesThroughTheUseCases: the REST API commands and queries the log
// through app (app.Service), never the event store itself, so a rule of a
// command lives in one place for every caller.
func TestAPIGoesThroughTheUseCases(t *testing.T) {
	serviceImports(t, func(path, pkg, target string) {
		if (pkg == "api" || strings.HasPrefix(pkg, "api/")) && (target == "eventstore" || strings.HasPrefix(target, "eventstore/")) {
			t.Errorf("%s imports %s: the API goes through app", path, target)
		}
	})
}
