package main

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// TestBenchSignalingJSON runs a small bench signaling (server child process,
// load from the bench process) and checks the JSON it prints.
func TestBenchSignalingJSON(t *testing.T) {
	cmd := exec.Command(binary(t), "bench", "signaling", "-sessions", "400", "-addrs", "2", "-pairs", "4", "-rate", "200", "-relay-duration", "500ms", "-json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("bench: %v\n%s\n%s", err, out, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"sessions", "rss_bytes_per_session", "relay_msgs_per_s", "relay_p50_us", "relay_p99_us"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s in %s", k, out)
		}
	}
	if r["sessions"].(float64) != 400 {
		t.Errorf("sessions %v, want 400", r["sessions"])
	}
	if r["rss_bytes_per_session"].(float64) <= 0 {
		t.Errorf("rss_bytes_per_session %v", r["rss_bytes_per_session"])
	}
	// 200 msg/s for 0.5 s: at least half of them must be measured, even on
	// a loaded machine.
	if r["relay_msgs_per_s"].(float64) < 100 || r["relay_p50_us"].(float64) <= 0 || r["relay_p99_us"].(float64) < r["relay_p50_us"].(float64) {
		t.Errorf("relay figures %s", out)
	}
	if r["relay_lost"].(float64) != 0 {
		t.Errorf("relay lost messages: %s", out)
	}
}
