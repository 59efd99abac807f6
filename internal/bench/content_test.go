package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestContentBench runs rallypoint bench content small: 1 MiB to three
// members. Fetching from the host alone costs the host a copy per member;
// the swarm delivers to every member too and the host uploads less.
func TestContentBench(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, err := RunContentBench(ContentConfig{Members: 3, SizeMiB: 1, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.HostAloneHostUpload < 3 {
		t.Fatalf("host alone uploaded %.2f copies to 3 members", r.HostAloneHostUpload)
	}
	if r.SwarmHostUpload >= r.HostAloneHostUpload || r.SwarmMs <= 0 || r.HostAloneMs <= 0 {
		t.Fatalf("%+v", r)
	}
}
