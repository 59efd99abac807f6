package nearby_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/internal/netns"
)

func TestMain(m *testing.M) {
	if role, args, ok := netns.ChildRole(); ok {
		os.Exit(runChild(role, args))
	}
	goleak.VerifyTestMain(m)
}
