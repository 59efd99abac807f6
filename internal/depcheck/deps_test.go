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
	// The database is the server's: the store package and its SQL drivers
	// are wired in cmd/rallypoint, never linked into a game (or its wasm).
	module + "/store",
	"modernc.org/",
	"github.com/jackc/",
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

// pionFree are the packages that must run over any Transport without pion:
// the contract, the rollback session and the network simulator. A game
// that only wants rollback (over its own transport, or netsim in tests)
// links no WebRTC stack.
var pionFree = []string{
	module + "/netcode",
	module + "/netcode/rollback",
	module + "/netcode/netsim",
	module + "/netcode/memsignal",
}

func TestRollbackNeedsNoPion(t *testing.T) {
	for _, pkg := range pionFree {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/pion/") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestContractIsStdOnly: the contract package imports the standard
// library only, so that every side (signaling, the mesh, the session, a
// game's own transport) may depend on it.
func TestContractIsStdOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"/netcode").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != module+"/netcode" {
			t.Errorf("netcode depends on %s", dep)
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
