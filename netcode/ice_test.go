package netcode

import (
	"testing"
	"time"
)

func TestTURNExpiry(t *testing.T) {
	for _, tc := range []struct {
		user string
		want int64
		ok   bool
	}{
		{"1767225600:p3", 1767225600, true},
		{"1767225600:", 1767225600, true},
		{"1767225600", 0, false}, // long-term username
		{"alice", 0, false},
		{":p3", 0, false},
		{"-5:p3", 0, false},
		{"0:p3", 0, false},
		{"12x:p3", 0, false},
		{"9999999999999:p3", 0, false}, // more digits than a timestamp
	} {
		got, ok := TURNExpiry(tc.user)
		if ok != tc.ok || (ok && !got.Equal(time.Unix(tc.want, 0))) {
			t.Errorf("TURNExpiry(%q) = %v, %v; want %v, %v", tc.user, got, ok, time.Unix(tc.want, 0), tc.ok)
		}
	}
}
