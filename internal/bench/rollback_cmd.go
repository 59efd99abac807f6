package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"
)

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
	WireAcksBundled      float64 `json:"wire_acks_bundled_share"`
	WireAligned          float64 `json:"wire_bytes_per_s_aligned_ticks"`
	WireRTT40            float64 `json:"wire_bytes_per_s_rtt40ms"`
	WireRTT100           float64 `json:"wire_bytes_per_s_rtt100ms"`
	WireRTT200           float64 `json:"wire_bytes_per_s_rtt200ms"`
	WirePrevious         float64 `json:"wire_bytes_per_s_previous"`
	WirePreviousRTT40    float64 `json:"wire_bytes_per_s_previous_rtt40ms"`
	WirePreviousPackets  float64 `json:"wire_packets_per_tick_previous_rtt40ms"`
	WireRatio            float64 `json:"wire_ratio_vs_previous"`
	WireRatioRTT40       float64 `json:"wire_ratio_vs_previous_rtt40ms"`
	// The best the previous version did: today's mesh with inputs carried
	// as before they adapted to the RTT (rollback.Config.FullRedundancy).
	WireBestPrevRTT100 float64 `json:"wire_bytes_per_s_previous_best_rtt100ms"`
	WireBestPrevRTT200 float64 `json:"wire_bytes_per_s_previous_best_rtt200ms"`
	BudgetOverheadNs   float64 `json:"budget_frame_overhead_ns"`
	BudgetPayload      int     `json:"budget_payload_bytes_per_tick"`
	BudgetWire         int     `json:"budget_wire_bytes_per_s"`
}

// RollbackConfig holds the flags of rallypoint bench rollback.
type RollbackConfig struct {
	JSON     bool          // -json: print one JSON object instead of a table
	Players  int           // -players: players in the session (one local)
	Rollback int           // -rollback: frames rolled back every frame
	Frames   int           // -frames: frames per round
	Rounds   int           // -rounds: rounds; the report gives medians
	Wire     time.Duration // -wire: length of each real-time wire measurement over pion (0 skips it)
}

// Rollback runs rallypoint bench rollback and prints its report on stdout (one
// JSON object with JSON set, else a table).
func Rollback(cfg RollbackConfig) error {
	if cfg.Rounds < 1 || cfg.Frames < 1 {
		return fmt.Errorf("rounds and frames must be positive")
	}
	var results []RollbackBenchResult
	for i := 0; i < cfg.Rounds; i++ {
		r, err := RunRollbackBench(RollbackBenchConfig{Players: cfg.Players, Rollback: cfg.Rollback, Frames: cfg.Frames})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	med := func(f func(RollbackBenchResult) float64) float64 {
		v := make([]float64, len(results))
		for i, r := range results {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	rep := rollbackReport{
		Players: cfg.Players, Rollback: cfg.Rollback, Frames: cfg.Frames, Rounds: cfg.Rounds,
		SessionNsPerFrame:    med(func(r RollbackBenchResult) float64 { return r.SessionNsPerFrame }),
		GameNsPerFrame:       med(func(r RollbackBenchResult) float64 { return r.GameNsPerFrame }),
		NoRollbackNsPerFrame: med(func(r RollbackBenchResult) float64 { return r.NoRollbackNsPerFrame }),
		FrameOverheadNs:      med(func(r RollbackBenchResult) float64 { return r.FrameOverheadNs }),
		SessionOverGame:      med(func(r RollbackBenchResult) float64 { return r.SessionNsPerFrame / r.GameNsPerFrame }),
		AllocsPerFrame:       med(func(r RollbackBenchResult) float64 { return r.AllocsPerFrame }),
		ResimulatedPerFrame:  med(func(r RollbackBenchResult) float64 { return r.ResimulatedPerFrame }),
		PayloadBytesPerTick:  results[0].PayloadBytesPerTick,
		MaxPayloadBytes:      results[0].MaxPayloadBytes,
		BudgetOverheadNs:     5000,
		BudgetPayload:        16,
		BudgetWire:           8000,
	}
	if cfg.Wire > 0 {
		// What the wire really carries, one direction of a 2-player session
		// over pion on a virtual network, with the mesh's defaults and with
		// its previous settings, on a LAN-like path and at 40 ms RTT.
		runs := []struct {
			setup wireSetup
			out   *float64
		}{
			{wireSetup{Aligned: true}, &rep.WireAligned},
			{wireSetup{RTT: 40 * time.Millisecond}, &rep.WireRTT40},
			{wireSetup{RTT: 100 * time.Millisecond}, &rep.WireRTT100},
			{wireSetup{RTT: 200 * time.Millisecond}, &rep.WireRTT200},
			{previousWire(0), &rep.WirePrevious},
			{wireSetup{RTT: 100 * time.Millisecond, Full: true}, &rep.WireBestPrevRTT100},
			{wireSetup{RTT: 200 * time.Millisecond, Full: true}, &rep.WireBestPrevRTT200},
		}
		wm, err := measureWire(cfg.Wire, wireSetup{})
		if err != nil {
			return err
		}
		rep.WireBytesPerSecond, rep.WirePacketsPerTick = wm.BytesPerSecond, wm.PacketsPerTick
		if wm.Bundling.Held > 0 {
			rep.WireAcksBundled = float64(wm.Bundling.Bundled) / float64(wm.Bundling.Held)
		}
		for _, r := range runs {
			m, err := measureWire(cfg.Wire, r.setup)
			if err != nil {
				return err
			}
			*r.out = m.BytesPerSecond
		}
		pm, err := measureWire(cfg.Wire, previousWire(40*time.Millisecond))
		if err != nil {
			return err
		}
		rep.WirePreviousRTT40, rep.WirePreviousPackets = pm.BytesPerSecond, pm.PacketsPerTick
		rep.WireRatio = rep.WireBytesPerSecond / rep.WirePrevious
		rep.WireRatioRTT40 = rep.WireRTT40 / rep.WirePreviousRTT40
	}
	if cfg.JSON {
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
	if cfg.Wire > 0 {
		fmt.Fprintf(w, "wire_bytes_per_s per remote peer, measured over pion (ticks half a tick apart)\t%.0f B/s (%.2f packets a tick, %.0f%% of acks bundled)\t≤ %d B/s %s\n",
			rep.WireBytesPerSecond, rep.WirePacketsPerTick, 100*rep.WireAcksBundled, rep.BudgetWire, verdict(rep.WireBytesPerSecond <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "  the same, both peers ticking at the same instant\t%.0f B/s\t≤ %d B/s %s\n", rep.WireAligned, rep.BudgetWire, verdict(rep.WireAligned <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "  the same at 40 ms RTT\t%.0f B/s\t≤ %d B/s %s\n", rep.WireRTT40, rep.BudgetWire, verdict(rep.WireRTT40 <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "  the same at 100 ms RTT\t%.0f B/s\t≤ %d B/s %s\n", rep.WireRTT100, rep.BudgetWire, verdict(rep.WireRTT100 <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "  the same at 200 ms RTT\t%.0f B/s\t≤ %d B/s %s\n", rep.WireRTT200, rep.BudgetWire, verdict(rep.WireRTT200 <= float64(rep.BudgetWire)))
		fmt.Fprintf(w, "baseline: previous mesh settings (AES-GCM, no ack bundling, 100 ms pings, no retransmission)\t%.0f B/s\t\n", rep.WirePrevious)
		fmt.Fprintf(w, "  the same at 40 ms RTT\t%.0f B/s (%.2f packets a tick)\t\n", rep.WirePreviousRTT40, rep.WirePreviousPackets)
		fmt.Fprintf(w, "baseline: the best previous (today's mesh, every unacknowledged input in every datagram) at 100 ms RTT\t%.0f B/s\t\n", rep.WireBestPrevRTT100)
		fmt.Fprintf(w, "  the same at 200 ms RTT\t%.0f B/s\t\n", rep.WireBestPrevRTT200)
		fmt.Fprintf(w, "wire ratio, now / previous\t%.2f× (at 40 ms RTT %.2f×)\t\n", rep.WireRatio, rep.WireRatioRTT40)
	}
	return w.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}
