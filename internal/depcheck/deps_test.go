package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rallypoint/rallypoint"

// libraries are the package patterns a game may embed.
var libraries = []string{
	module + "/signaling/...",
	module + "/lobby/...",
	module + "/matchmaker/...",
	module + "/netcode/...",
}

// forbidden are import path prefixes no library may depend on.
var forbidden = []string{
	"github.com/hajimehoshi/ebiten",
	module + "/cmd/",
	module + "/demo-game",
	// client_golang adds ~5 MB to a js/wasm game: metrics are bound in
	// internal/metrics from the libraries' plain snapshots and hooks.
	"github.com/prometheus/",
}

func TestLibrariesStayLean(t *testing.T) {
	for _, pattern := range libraries {
		out, err := exec.Command("go", "list", "-deps", pattern).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") {
				continue
			}
			t.Fatalf("go list -deps %s: %v\n%s", pattern, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbidden {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", pattern, dep)
				}
			}
		}
	}
}

// TestLobbyAPIHidesDNSSD: games use lobby's own LAN types; no exported
// declaration of package lobby names a lobby/dnssd type.
func TestLobbyAPIHidesDNSSD(t *testing.T) {
	out, err := exec.Command("go", "doc", "-all", module+"/lobby").CombinedOutput()
	if err != nil {
		t.Fatalf("go doc: %v\n%s", err, out)
	}
	for i, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "dnssd.") {
			t.Errorf("go doc lobby line %d names a dnssd identifier: %s", i+1, line)
		}
	}
}
