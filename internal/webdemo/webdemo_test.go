package webdemo

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Build itself is tested where its output is used: demo-game's
// TestBrowserDemoOnline builds the web demo, serves it with rallypoint serve
// -web and plays it in headless Chromium (a second build here would add
// its time to the suite for nothing).

func TestBuildOutsideTheModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Build(ctx, t.TempDir(), t.TempDir())
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("Build outside the module: %v, want ErrNoSource", err)
	}
}
