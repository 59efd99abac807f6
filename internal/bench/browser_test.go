package bench

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rallypoint/rallypoint/internal/browser"
)

// TestBrowserBench runs the browser bench small, with a real headless
// Chromium: every figure is measured (positive) and the JSON report
// decodes.
func TestBrowserBench(t *testing.T) {
	browser.Require(t)
	var out bytes.Buffer
	if err := Browser(BrowserConfig{JSON: true, Runs: 1, Pings: 20, Out: &out}); err != nil {
		t.Fatal(err)
	}
	var r BrowserResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	t.Logf("%s", out.Bytes())
	for name, v := range map[string]float64{
		"connect native offers": r.NativeOffersConnectP50Ms, "connect browser offers": r.BrowserOffersConnectP50Ms,
		"connect browser-browser": r.BrowserBrowserConnectP50, "connect baseline": r.NativeNativeConnectP50Ms,
		"rtt browser-native": r.BrowserNativeRTTP50Ms, "rtt browser-browser": r.BrowserBrowserRTTP99Ms,
		"rtt baseline": r.NativeNativeRTTP50Ms,
	} {
		if v <= 0 {
			t.Errorf("%s: %v ms", name, v)
		}
	}
}
