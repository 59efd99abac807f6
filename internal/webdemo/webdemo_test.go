package webdemo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBuild builds the web demo and checks its files: a wasm module, Go's
// loader and the page that loads both.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the demo for js/wasm: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "web")
	if err := Build(ctx, "", dir); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if wasm := read("demo.wasm"); !bytes.HasPrefix(wasm, []byte("\x00asm")) || len(wasm) < 1<<20 {
		t.Errorf("demo.wasm: %d bytes starting %q", len(wasm), wasm[:min(len(wasm), 4)])
	}
	if !bytes.Contains(read("wasm_exec.js"), []byte("globalThis.Go")) {
		t.Error("wasm_exec.js is not Go's loader")
	}
	page := read("index.html")
	for _, want := range []string{`src="wasm_exec.js"`, `fetch("demo.wasm")`, "window.demo"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

func TestBuildOutsideTheModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Build(ctx, t.TempDir(), t.TempDir())
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("Build outside the module: %v, want ErrNoSource", err)
	}
}
