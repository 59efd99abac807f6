package examples_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEEmbedsTheExamples pins the README's "Embed it" section to the
// code the examples run, and the promise that each is at most 20 lines of
// networking code (the function body, blank lines not counted).
func TestREADMEEmbedsTheExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, fn string }{
		{"quickmatch_test.go", "quickMatch"},
		{"lan_test.go", "lanMatch"},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		code := funcSource(t, string(src), c.fn)
		if !strings.Contains(string(readme), "```go\n"+code+"```") {
			t.Errorf("README.md does not show %s as %s has it:\n%s", c.fn, c.file, code)
		}
		lines := 0
		body := strings.Split(strings.TrimSuffix(code, "}\n"), "\n")[1:] // between the signature and the closing brace
		for _, l := range body {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if lines > 20 {
			t.Errorf("%s has %d lines of code, want at most 20", c.fn, lines)
		}
		t.Logf("%s: %d lines", c.fn, lines)
	}
}

// funcSource returns the source of the top-level function name, from its
// "func" line to its closing brace and newline.
func funcSource(t *testing.T, src, name string) string {
	t.Helper()
	i := strings.Index(src, "\nfunc "+name+"(")
	if i < 0 {
		t.Fatalf("no func %s", name)
	}
	j := strings.Index(src[i:], "\n}\n")
	if j < 0 {
		t.Fatalf("func %s has no end", name)
	}
	return src[i+1 : i+j+3]
}
