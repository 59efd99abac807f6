package webdemo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the module whose demo Build compiles.
const Module = "github.com/rallypoint/rallypoint"

// Files are the files Build writes: the page, Go's loader, the game, and
// the game gzipped (a server that finds NAME.gz next to NAME may send it
// to browsers that accept gzip: rallypoint serve -web does).
var Files = []string{"index.html", "wasm_exec.js", "demo.wasm", "demo.wasm.gz"}

// ErrNoSource is returned by Build when it does not run in the module's
// source tree.
var ErrNoSource = errors.New("webdemo: not in the " + Module + " source tree (build the web demo in a checkout of the repository)")

// Build builds the web demo into dir (created if missing): it compiles
// ./demo-game with GOOS=js GOARCH=wasm into dir/demo.wasm and copies Go's
// wasm_exec.js and demo-game/web/index.html next to it, and writes
// demo.wasm.gz, a gzipped copy (about a quarter of the size). src is a directory
// inside the module's source tree; empty means the current directory. The
// go command's output is in the error when the build fails.
func Build(ctx context.Context, src, dir string) error {
	root, err := goOutput(ctx, src, nil, "list", "-m", "-f", "{{.Path}} {{.Dir}}")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSource, err)
	}
	path, root, _ := strings.Cut(root, " ")
	if path != Module || root == "" {
		return ErrNoSource
	}
	goroot, err := goOutput(ctx, root, nil, "env", "GOROOT")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	out, err := filepath.Abs(filepath.Join(dir, "demo.wasm"))
	if err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	if _, err := goOutput(ctx, root, []string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0"}, "build", "-o", out, "./demo-game"); err != nil {
		return err
	}
	loader := filepath.Join(goroot, "lib", "wasm", "wasm_exec.js")
	if _, err := os.Stat(loader); err != nil {
		loader = filepath.Join(goroot, "misc", "wasm", "wasm_exec.js") // before Go 1.24
	}
	if err := copyFile(loader, filepath.Join(dir, "wasm_exec.js")); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(root, "demo-game", "web", "index.html"), filepath.Join(dir, "index.html")); err != nil {
		return err
	}
	return gzipFile(out, out+".gz")
}

// gzipFile writes a gzipped copy of from to to, at gzip's best speed (the
// wasm shrinks to about a quarter either way).
func gzipFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed) // a valid level: no error
	_, err = io.Copy(zw, in)
	if err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return fmt.Errorf("webdemo: %w", err)
	}
	return nil
}

// goOutput runs the go command in dir with extra environment variables and
// returns its standard output, trimmed.
func goOutput(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("webdemo: go %s: %w\n%s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return fmt.Errorf("webdemo: %w", err)
	}
	return nil
}
