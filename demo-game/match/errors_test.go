package match

import (
	"fmt"
	"testing"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

func TestLost(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("x: %w", rollback.ErrDroppedByPeers): true,
		fmt.Errorf("y: %w", rollback.ErrStartFailed):    true,
		ErrClosed:                       false,
		rollback.ErrPredictionThreshold: false,
	} {
		if Lost(err) != want {
			t.Errorf("Lost(%v) = %v", err, !want)
		}
	}
}
