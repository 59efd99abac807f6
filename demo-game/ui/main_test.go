package ui

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the lobby
// screen's calls, lobbies and dials end with their screens.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
