package content

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCache: content stored by id loads back; absent, truncated and
// damaged files are refused (the bad ones removed), and data that does
// not hash to the id is not stored.
func TestCache(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	data := randomContent(12, 70000)
	ref, _, _ := MakeRef(data, 0)
	if _, err := c.Load(ref); !errors.Is(err, ErrUnknown) {
		t.Fatalf("empty cache: %v", err)
	}
	if err := c.Store(ref.ID, data[1:]); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong data stored: %v", err)
	}
	if err := c.Store(ref.ID, data); err != nil {
		t.Fatal(err)
	}
	got, err := c.Load(ref)
	if err != nil || string(got) != string(data) {
		t.Fatalf("load: %v", err)
	}
	p := filepath.Join(c.Dir, ref.ID.String())
	damaged := append([]byte(nil), data...)
	damaged[100] ^= 1
	os.WriteFile(p, damaged, 0o644)
	if _, err := c.Load(ref); !errors.Is(err, ErrMismatch) {
		t.Fatalf("damaged: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the damaged file was kept")
	}
	os.WriteFile(p, data[:10], 0o644)
	if _, err := c.Load(ref); !errors.Is(err, ErrMismatch) {
		t.Fatalf("truncated: %v", err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
