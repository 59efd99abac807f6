package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"testing"
)

// TestBenchTransportJSON runs a small bench transport (UDP, bare pion and
// kit children, a serve child) and checks that the JSON it prints holds
// every figure the issue names, measured and consistent with each other.
func TestBenchTransportJSON(t *testing.T) {
	cmd := exec.Command(binary(t), "bench", "transport", "-n", "40", "-runs", "3", "-json")
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
	num := func(k string) float64 {
		v, ok := r[k].(float64)
		if !ok {
			t.Fatalf("no number %s in %s", k, out)
		}
		return v
	}
	for _, k := range []string{"udp_rtt_p50_us", "pion_rtt_p50_us", "kit_rtt_p50_us", "kit_rtt_p99_us",
		"connect2_p50_ms", "connect4_p50_ms", "transfer_1mib_ms", "pion_setup_p50_ms"} {
		if v := num(k); v <= 0 {
			t.Errorf("%s = %v, want a measured figure", k, v)
		}
	}
	if num("kit_rtt_p99_us") < num("kit_rtt_p50_us") {
		t.Errorf("kit p99 under p50: %s", out)
	}
	// The baseline is the faster bare pion variant, and the ratio is the
	// kit's median over it.
	if want := math.Min(num("pion_callback_rtt_p50_us"), num("pion_detached_rtt_p50_us")); num("pion_rtt_p50_us") != want {
		t.Errorf("pion_rtt_p50_us %v, want the faster variant %v", num("pion_rtt_p50_us"), want)
	}
	if want := num("kit_rtt_p50_us") / num("pion_rtt_p50_us"); math.Abs(num("rtt_ratio")-want) > 1e-9 {
		t.Errorf("rtt_ratio %v, want %v", num("rtt_ratio"), want)
	}
	// Connect times through NATs in namespaces with coturn (root only).
	if skip, _ := r["nat_skipped"].(string); skip == "" {
		for _, k := range []string{"nat_cone_kit_connect_p50_ms", "nat_cone_pion_connect_p50_ms",
			"nat_symmetric_kit_connect_p50_ms", "nat_symmetric_pion_connect_p50_ms"} {
			if v := num(k); v <= 0 {
				t.Errorf("%s = %v, want a measured figure", k, v)
			}
		}
		// A direct pair through cone NATs needs no TURN fallback.
		if num("nat_cone_kit_connect_p50_ms") >= num("nat_symmetric_kit_connect_p50_ms") {
			t.Errorf("cone pair no faster than the relayed symmetric pair: %s", out)
		}
	} else {
		t.Logf("NAT figures skipped: %s", skip)
	}
	if num("pings") != 40 || num("runs") != 3 {
		t.Errorf("pings/runs not as asked: %s", out)
	}
	// Connect times at 50 ms RTT: measured, in round trips of 50 ms, and
	// each traced connection's steps end with every channel open.
	for _, k := range []string{"connect2_rtt50", "connect4_rtt50", "pion_connect2_rtt50"} {
		ms := num(k + "_ms")
		if ms < 100 {
			t.Errorf("%s_ms = %v: under 2 round trips of 50 ms", k, ms)
		}
		if rtts := num(k + "_rtts"); math.Abs(rtts-ms/50) > 1e-9 {
			t.Errorf("%s_rtts %v, want %v", k, rtts, ms/50)
		}
	}
	for _, k := range []string{"connect2_rtt50_steps", "pion_connect2_rtt50_steps"} {
		steps, _ := r[k].([]any)
		if len(steps) < 5 {
			t.Fatalf("%s: %v", k, r[k])
		}
		last, _ := steps[len(steps)-1].(map[string]any)
		if last["step"] != "every channel open on both sides" || last["ms"].(float64) <= 0 {
			t.Errorf("%s ends with %v", k, last)
		}
	}
}
