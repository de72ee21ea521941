// Package docs holds tenantflow's documentation beyond the README. Its tests
// keep the README and these pages true where a machine can check them: every
// relative link and anchor resolves, the configuration reference names every
// setting tenantd reads (and none it does not), the folder map covers every Go
// package, and the README stays short enough to read in ten minutes.
package docs_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/internal/config"
)

// readmeMaxLines bounds the README: what it is, the two commands, a first
// tenant, the flow, the folder map and links. Everything else goes to docs/.
const readmeMaxLines = 250

// pages are the README and every page of docs/, relative to the repository root.
func pages(t *testing.T) []string {
	t.Helper()
	found, err := filepath.Glob("*.md")
	if err != nil || len(found) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	return append([]string{"../README.md"}, found...)
}

// prose returns a page's lines outside code fences.
func prose(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines = append(lines, line)
		}
	}
	return lines
}

var (
	heading   = regexp.MustCompile(`^#{1,6} (.+)$`)
	link      = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	notInSlug = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// anchors are the ids GitHub gives a page's headings: lower case, punctuation
// dropped, spaces as hyphens.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, line := range prose(t, path) {
		if m := heading.FindStringSubmatch(line); m != nil {
			ids[strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")] = true
		}
	}
	return ids
}

func TestLinksAndAnchorsResolve(t *testing.T) {
	headings := map[string]map[string]bool{} // each page read once, however many links point at it
	for _, page := range pages(t) {
		for _, line := range prose(t, page) {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := page
				if file != "" {
					dest = filepath.Join(filepath.Dir(page), file)
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s links to %s, which does not exist", page, target)
						continue
					}
				}
				if anchor != "" && headings[dest] == nil {
					headings[dest] = anchors(t, dest)
				}
				if anchor != "" && !headings[dest][anchor] {
					t.Errorf("%s links to %s: %s has no heading with that anchor", page, target, dest)
				}
			}
		}
	}
}

var (
	setting     = regexp.MustCompile(`TENANTFLOW_[A-Z0-9_]*[A-Z0-9]`)
	abbreviated = regexp.MustCompile("`(_[A-Z0-9_]+)`")
)

// TestConfigurationReferenceMatchesTheCode holds docs/configuration.md's table
// and the configuration struct to each other. A row may abbreviate siblings:
// "`TENANTFLOW_S3_ENDPOINT`, `_ACCESS_KEY`" documents TENANTFLOW_S3_ACCESS_KEY.
func TestConfigurationReferenceMatchesTheCode(t *testing.T) {
	documented := map[string]bool{}
	for _, line := range prose(t, "configuration.md") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "|") {
			continue
		}
		first := cells[1]
		names := setting.FindAllString(first, -1)
		for _, n := range names {
			documented[n] = true
		}
		if len(names) > 0 {
			group := strings.Join(strings.SplitN(names[0], "_", 3)[:2], "_")
			for _, m := range abbreviated.FindAllStringSubmatch(first, -1) {
				documented[group+m[1]] = true
			}
		}
	}
	read := map[string]bool{}
	for _, n := range config.VariableNames() {
		read[n] = true
		if !documented[n] {
			t.Errorf("tenantd reads %s but docs/configuration.md does not document it", n)
		}
	}
	for n := range documented {
		if !read[n] {
			t.Errorf("docs/configuration.md documents %s, which tenantd does not read", n)
		}
	}
}

// TestFolderMapCoversEveryPackage: a newcomer looking for a package finds it,
// or its parent folder, in the README's folder map, and every folder the map
// names exists.
func TestFolderMapCoversEveryPackage(t *testing.T) {
	var entries []string
	inMap := false
	for _, line := range prose(t, "../README.md") {
		switch {
		case strings.HasPrefix(line, "## "):
			inMap = line == "## Folder map"
		case inMap && strings.HasPrefix(line, "| `"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			entries = append(entries, strings.TrimSuffix(name, "/"))
		}
	}
	if len(entries) == 0 {
		t.Fatal("the README has no folder map")
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("..", e)); err != nil {
			t.Errorf("the folder map names %s, which does not exist", e)
		}
	}
	covered := func(dir string) bool {
		for _, e := range entries {
			if dir == e || strings.HasPrefix(dir, e+"/") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		dir, _ := filepath.Rel("..", filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if !seen[dir] && !covered(dir) {
			t.Errorf("package folder %s is not in the README's folder map", dir)
		}
		seen[dir] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadmeIsShort(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the detail into a page of docs/ and link it", n, readmeMaxLines)
	}
}
