package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

func init() {
	registerBench("rollback", "rollback session cost per frame and wire budget", runBenchRollback)
}

// rollbackReport is the -json output: medians over the rounds.
type rollbackReport struct {
	Players              int     `json:"players"`
	Rollback             int     `json:"rollback_frames"`
	Frames               int     `json:"frames_per_round"`
	Rounds               int     `json:"rounds"`
	SessionNsPerFrame    float64 `json:"session_ns_per_frame"`
	GameNsPerFrame       float64 `json:"game_ns_per_frame"`
	NoRollbackNsPerFrame float64 `json:"session_no_rollback_ns_per_frame"`
	FrameOverheadNs      float64 `json:"frame_overhead_ns"`
	SessionOverGame      float64 `json:"session_over_game_ratio"`
	AllocsPerFrame       float64 `json:"allocs_per_frame"`
	ResimulatedPerFrame  float64 `json:"resimulated_per_frame"`
	PayloadBytesPerTick  float64 `json:"payload_bytes_per_tick"`
	MaxPayloadBytes      int     `json:"max_payload_bytes"`
	WireBytesPerSecond   float64 `json:"wire_bytes_per_s"`
	WirePacketsPerTick   float64 `json:"wire_packets_per_tick"`
	WireBytesQuietMesh   float64 `json:"wire_bytes_per_s_pings_every_10s"`
	WireQuietPackets     float64 `json:"wire_packets_per_tick_pings_every_10s"`
	WireEstimate         float64 `json:"wire_bytes_per_s_estimate"`
	WireFormula          string  `json:"wire_estimate_formula"`
	BudgetOverheadNs     float64 `json:"budget_frame_overhead_ns"`
	BudgetPayload        int     `json:"budget_payload_bytes_per_tick"`
	BudgetWire           int     `json:"budget_wire_bytes_per_s"`
}

func runBenchRollback(args []string) error {
	fs := flag.NewFlagSet("bench rollback", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	players := fs.Int("players", 4, "players in the session (one local)")
	rollback := fs.Int("rollback", 8, "frames rolled back every frame")
	frames := fs.Int("frames", 20000, "frames per round")
	rounds := fs.Int("rounds", 5, "rounds; the report gives medians")
	wireFor := fs.Duration("wire", 5*time.Second, "length of each real-time wire measurement over pion (0 skips it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 || *frames < 1 {
		return fmt.Errorf("rounds and frames must be positive")
	}
	var results []netcode.RollbackBenchResult
	for i := 0; i < *rounds; i++ {
		r, err := netcode.RunRollbackBench(netcode.RollbackBenchConfig{Players: *players, Rollback: *rollback, Frames: *frames})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	med := func(f func(netcode.RollbackBenchResult) float64) float64 {
		v := make([]float64, len(results))
		for i, r := range results {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	rep := rollbackReport{
		Players: *players, Rollback: *rollback, Frames: *frames, Rounds: *rounds,
		SessionNsPerFrame:    med(func(r netcode.RollbackBenchResult) float64 { return r.SessionNsPerFrame }),
		GameNsPerFrame:       med(func(r netcode.RollbackBenchResult) float64 { return r.GameNsPerFrame }),
		NoRollbackNsPerFrame: med(func(r netcode.RollbackBenchResult) float64 { return r.NoRollbackNsPerFrame }),
		FrameOverheadNs:      med(func(r netcode.RollbackBenchResult) float64 { return r.FrameOverheadNs }),
		SessionOverGame:      med(func(r netcode.RollbackBenchResult) float64 { return r.SessionNsPerFrame / r.GameNsPerFrame }),
		AllocsPerFrame:       med(func(r netcode.RollbackBenchResult) float64 { return r.AllocsPerFrame }),
		ResimulatedPerFrame:  med(func(r netcode.RollbackBenchResult) float64 { return r.ResimulatedPerFrame }),
		PayloadBytesPerTick:  results[0].PayloadBytesPerTick,
		MaxPayloadBytes:      results[0].MaxPayloadBytes,
		WireEstimate:         results[0].WireBytesPerSecond,
		WireFormula:          fmt.Sprintf("60 * (payload + 69 DTLS/SCTP + 28 IP/UDP + 32 SACK) = 60 * (payload + %d)", netcode.WireOverheadPerDatagram),
		BudgetOverheadNs:     5000,
		BudgetPayload:        16,
		BudgetWire:           8192,
	}
	if *wireFor > 0 {
		// What the wire really carries, one direction of a 2-player session
		// over pion on a virtual network: with the mesh's default
		// keep-alive pings (every 100 ms), and with pings every 10 s.
		wm, err := measureWire(*wireFor, 0)
		if err != nil {
			return err
		}
		rep.WireBytesPerSecond, rep.WirePacketsPerTick = wm.BytesPerSecond, wm.PacketsPerTick
		wq, err := measureWire(*wireFor, 10*time.Second)
		if err != nil {
			return err
		}
		rep.WireBytesQuietMesh, rep.WireQuietPackets = wq.BytesPerSecond, wq.PacketsPerTick
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(rep)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "rollback session: %d players, %d-frame rollback every frame, %d frames × %d rounds (medians)\n", rep.Players, rep.Rollback, rep.Frames, rep.Rounds)
	fmt.Fprintf(w, "measure\tvalue\tbudget\n")
	fmt.Fprintf(w, "session AdvanceFrame, game included\t%.0f ns/frame\t\n", rep.SessionNsPerFrame)
	fmt.Fprintf(w, "baseline: the game's own calls\t%.0f ns/frame\t\n", rep.GameNsPerFrame)
	fmt.Fprintf(w, "baseline: the session without rollback\t%.0f ns/frame\t\n", rep.NoRollbackNsPerFrame)
	fmt.Fprintf(w, "frame_overhead_ns (session − game)\t%.0f ns\t< %.0f ns %s\n", rep.FrameOverheadNs, rep.BudgetOverheadNs, verdict(rep.FrameOverheadNs < rep.BudgetOverheadNs))
	fmt.Fprintf(w, "session / game ratio\t%.2f×\t\n", rep.SessionOverGame)
	fmt.Fprintf(w, "allocs_per_frame\t%.3f\t0 %s\n", rep.AllocsPerFrame, verdict(rep.AllocsPerFrame < 0.01))
	fmt.Fprintf(w, "frames resimulated per frame\t%.2f\t\n", rep.ResimulatedPerFrame)
	fmt.Fprintf(w, "payload_bytes_per_tick (2 players, 1-byte inputs, 3 in flight)\t%.2f B (max %d B)\t≤ %d B %s\n", rep.PayloadBytesPerTick, rep.MaxPayloadBytes, rep.BudgetPayload, verdict(rep.PayloadBytesPerTick <= float64(rep.BudgetPayload)))
	if *wireFor > 0 {
		fmt.Fprintf(w, "wire_bytes_per_s per remote peer, measured over pion (mesh pings every 100 ms)\t%.0f B/s (%.2f packets a tick)\t≤ %d B/s %s\n", rep.WireBytesPerSecond, rep.WirePacketsPerTick, rep.BudgetWire, verdict(rep.WireBytesPerSecond <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "  the same with mesh pings every 10 s\t%.0f B/s (%.2f packets a tick)\t≤ %d B/s %s\n", rep.WireBytesQuietMesh, rep.WireQuietPackets, rep.BudgetWire, verdict(rep.WireBytesQuietMesh <= float64(rep.BudgetWire)))
	}
	fmt.Fprintf(w, "wire estimate (one datagram + 32 B SACK a tick)\t%.0f B/s\t\n", rep.WireEstimate)
	fmt.Fprintf(w, "estimate formula\t%s\t\n", rep.WireFormula)
	return w.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}
