package match_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// TestJSONSecondsRoundTrip: a duration written as seconds reads back to
// the millisecond, inside a result line too; what is not a number of
// seconds in range is refused with ErrBadResult.
func TestJSONSecondsRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 1234 * time.Millisecond, -3 * time.Second, 90 * time.Minute} {
		b, err := json.Marshal(match.JSONSeconds(d))
		if err != nil {
			t.Fatal(err)
		}
		var got match.JSONSeconds
		if err := json.Unmarshal(b, &got); err != nil || time.Duration(got) != d {
			t.Fatalf("%v as %s read back as %v, %v", d, b, time.Duration(got), err)
		}
	}
	var got match.JSONSeconds
	if err := json.Unmarshal([]byte("0.0004"), &got); err != nil || got != 0 {
		t.Fatalf("0.0004 s: %v %v, want 0 (milliseconds)", time.Duration(got), err)
	}
	w := match.WatchResult{ParentChanges: []match.ParentChange{{From: "a", To: "b", Gap: match.JSONSeconds(350 * time.Millisecond)}}}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back match.WatchResult
	if err := json.Unmarshal(b, &back); err != nil || len(back.ParentChanges) != 1 || back.ParentChanges[0] != w.ParentChanges[0] {
		t.Fatalf("%s read back as %+v, %v", b, back, err)
	}
	for _, bad := range []string{`"1s"`, `true`, `1e10`, `-1e10`, `{}`} {
		if err := json.Unmarshal([]byte(bad), &got); !errors.Is(err, match.ErrBadResult) {
			t.Errorf("%s: %v, want ErrBadResult", bad, err)
		}
	}
}

// FuzzJSONSeconds: any input decodes or is refused with ErrBadResult, and
// what decodes is written and read back unchanged.
func FuzzJSONSeconds(f *testing.F) {
	for _, s := range []string{"0.350", "2", "-1.5", "1e3", "null", `"x"`, "9e9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d match.JSONSeconds
		if err := json.Unmarshal(b, &d); err != nil {
			var se *json.SyntaxError
			if !errors.Is(err, match.ErrBadResult) && !errors.As(err, &se) {
				t.Fatalf("%q: %v", b, err)
			}
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var again match.JSONSeconds
		if err := json.Unmarshal(out, &again); err != nil || again != d {
			t.Fatalf("%q -> %v -> %s -> %v, %v", b, d, out, again, err)
		}
	})
}
