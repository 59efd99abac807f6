package depcheck

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasAManual checks that each library and internal package
// has a doc.go whose package comment starts "Package NAME", and each command
// a package comment on its main file.
func TestEveryPackageHasAManual(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			Dir, ImportPath, Name, Doc string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		checked++
		if p.Name == "main" {
			if p.Doc == "" {
				t.Errorf("%s: command has no package comment", p.ImportPath)
			}
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("%s: no doc.go: %v", p.ImportPath, err)
			continue
		}
		if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package "+p.Name+" ") {
			t.Errorf("%s: doc.go has no package comment starting %q", p.ImportPath, "Package "+p.Name)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages; go list output was not what this test expects", checked)
	}
}
