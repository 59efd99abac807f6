package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPauseDAMONTurnsRunningMonitorsOffAndOn(t *testing.T) {
	dir := t.TempDir()
	states := map[string]string{"0": "on", "1": "off", "2": "on"}
	for k, v := range states {
		os.MkdirAll(filepath.Join(dir, k), 0o755)
		if err := os.WriteFile(filepath.Join(dir, k, "state"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := damonStates
	damonStates = filepath.Join(dir, "*", "state")
	t.Cleanup(func() { damonStates = old })
	read := func(k string) string {
		b, _ := os.ReadFile(filepath.Join(dir, k, "state"))
		return string(b)
	}
	if got := len(damonRunning()); got != 2 {
		t.Fatalf("running monitors %d, want 2", got)
	}
	n, resume, err := pauseDAMON()
	if err != nil || n != 2 {
		t.Fatalf("paused %d, %v; want 2", n, err)
	}
	if read("0") != "off" || read("2") != "off" || read("1") != "off\n" {
		t.Fatalf("after the pause: %q %q %q", read("0"), read("1"), read("2"))
	}
	if len(damonRunning()) != 0 {
		t.Fatal("monitors still running after the pause")
	}
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	// The one that was off stays off.
	if read("0") != "on" || read("2") != "on" || read("1") != "off\n" {
		t.Fatalf("after resume: %q %q %q", read("0"), read("1"), read("2"))
	}
}
