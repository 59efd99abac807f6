package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// ContentConfig holds the flags of rallypoint bench content.
type ContentConfig struct {
	JSON    bool // -json: print one JSON object instead of a table
	Members int  // -members: peers that fetch the content (the host is one more)
	SizeMiB int  // -size: content size in MiB
	Runs    int  // -runs: deliveries of each kind (the median is reported)
}

// contentBenchResult is what -json prints. Times are medians over the runs.
type contentBenchResult struct {
	Members   int     `json:"members"`
	SizeBytes int64   `json:"size_bytes"`
	PieceSize int     `json:"piece_size"`
	Runs      int     `json:"runs"`
	ConnectMs float64 `json:"connect_ms"`
	// swarm_*: every member fetches from every peer that has pieces.
	SwarmMs         float64 `json:"swarm_ms"`
	SwarmHostUpload float64 `json:"swarm_host_upload_copies"`
	// host_alone_*: the baseline, each member fetching from the host only.
	HostAloneMs         float64 `json:"host_alone_ms"`
	HostAloneHostUpload float64 `json:"host_alone_host_upload_copies"`
	// swarm_time_ratio is swarm_ms / host_alone_ms (below 1: the swarm is
	// faster).
	SwarmTimeRatio   float64 `json:"swarm_time_ratio"`
	TargetHostUpload float64 `json:"target_host_upload_copies"`
	TargetsMet       bool    `json:"targets_met"`
	LoadAvg          string  `json:"load_avg"`
}

// Content runs rallypoint bench content: a host delivers content to
// Members peers over a WebRTC mesh on loopback (every peer in this
// process, a real signaling server on 127.0.0.1), once through the swarm
// and once with each member fetching from the host alone, alternating,
// Runs times each. It prints one report on stdout.
func Content(cfg ContentConfig) error {
	r, err := RunContentBench(cfg)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printContentTable(os.Stdout, r)
	return nil
}

// RunContentBench measures and returns the result without printing it.
func RunContentBench(cfg ContentConfig) (contentBenchResult, error) {
	if cfg.Members <= 0 {
		cfg.Members = 8
	}
	if cfg.SizeMiB <= 0 {
		cfg.SizeMiB = 16
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	r := contentBenchResult{Members: cfg.Members, SizeBytes: int64(cfg.SizeMiB) << 20, PieceSize: content.DefaultPieceSize, Runs: cfg.Runs, TargetHostUpload: 2}
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	start := time.Now()
	peers := make([]*contentPeer, cfg.Members+1)
	defer func() {
		for _, p := range peers {
			if p != nil {
				p.close()
			}
		}
	}()
	for i := range peers {
		p, err := startContentPeer(ctx, url)
		if err != nil {
			return r, err
		}
		peers[i] = p
	}
	for _, p := range peers {
		if err := p.mesh.WaitConnected(ctx, cfg.Members); err != nil {
			return r, fmt.Errorf("bench content: %s: %w", p.id, err)
		}
	}
	r.ConnectMs = durMs(time.Since(start))

	var swarm, alone, swarmUp, aloneUp []float64
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range cfg.Runs {
		for _, star := range []bool{true, false} {
			data := make([]byte, r.SizeBytes)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			d, up, err := deliverContent(ctx, peers, data, star, uint64(run+1))
			if err != nil {
				return r, err
			}
			if star {
				alone, aloneUp = append(alone, durMs(d)), append(aloneUp, up)
			} else {
				swarm, swarmUp = append(swarm, durMs(d)), append(swarmUp, up)
			}
		}
	}
	r.SwarmMs, r.SwarmHostUpload = median(swarm), median(swarmUp)
	r.HostAloneMs, r.HostAloneHostUpload = median(alone), median(aloneUp)
	r.SwarmTimeRatio = r.SwarmMs / r.HostAloneMs
	r.TargetsMet = r.SwarmHostUpload <= r.TargetHostUpload
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && len(b) > 0 {
		r.LoadAvg = string(b[:len(b)-1])
	}
	return r, nil
}

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// deliverContent gives every peer a fresh swarm, seeds data on peers[0]
// and fetches it on the others: from the host only when star is set, else
// from every peer. It returns the time until every member has it verified
// and the host's upload in copies of the content.
func deliverContent(ctx context.Context, peers []*contentPeer, data []byte, star bool, seed uint64) (time.Duration, float64, error) {
	host := peers[0]
	for i, p := range peers {
		p.attach(content.New(p.mesh, content.Config{Seed: seed*100 + uint64(i)}))
	}
	defer func() {
		for _, p := range peers {
			p.detach()
		}
	}()
	// Each swarm learns of its peers: all of them, or in the star only
	// the host (and the host all members).
	for i, p := range peers {
		for j, q := range peers {
			if i == j || (star && i != 0 && j != 0) {
				continue
			}
			p.swarm().PeerUp(q.id)
		}
	}
	start := time.Now()
	ref, err := host.swarm().Seed(data)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range peers[1:] {
		if err := p.swarm().Fetch(ref); err != nil {
			return 0, 0, err
		}
	}
	for _, p := range peers[1:] {
		if err := p.waitComplete(ctx, ref.ID); err != nil {
			return 0, 0, err
		}
	}
	d := time.Since(start)
	up := float64(host.swarm().Stats().Uploaded) / float64(len(data))
	return d, up, nil
}

// contentPeer is one peer of the bench: a signaling client, its mesh and
// the swarm of the current delivery.
type contentPeer struct {
	id     netcode.PeerID
	client *signaling.Client
	mesh   *mesh.Mesh
	cur    atomic.Pointer[content.Swarm]
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func startContentPeer(ctx context.Context, url string) (*contentPeer, error) {
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		return nil, err
	}
	if _, err := c.Join(ctx, "bench-content"); err != nil {
		c.Close()
		return nil, err
	}
	p := &contentPeer{id: netcode.PeerID(c.LocalID()), client: c}
	m, err := mesh.New(c, mesh.Config{Loopback: true, ConnectTimeout: 30 * time.Second,
		OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			if s := p.cur.Load(); s != nil {
				s.Handle(from, ch, data)
			}
		}})
	if err != nil {
		c.Close()
		return nil, err
	}
	p.mesh = m
	return p, nil
}

func (p *contentPeer) swarm() *content.Swarm { return p.cur.Load() }

// attach makes s the peer's swarm and runs its ticks.
func (p *contentPeer) attach(s *content.Swarm) {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.cur.Store(s)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.Run(ctx)
	}()
}

func (p *contentPeer) detach() {
	s := p.cur.Swap(nil)
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	if s != nil {
		s.Close()
	}
}

func (p *contentPeer) waitComplete(ctx context.Context, id content.ID) error {
	s := p.swarm()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return content.ErrClosed
			}
			switch ev := ev.(type) {
			case content.EventComplete:
				if ev.ID == id {
					return nil
				}
			case content.EventFailed:
				return ev.Err
			}
		case <-ctx.Done():
			pr, _ := s.Progress(id)
			return fmt.Errorf("bench content: %s has %d of %d pieces: %w", p.id, pr.Have, pr.Ref.Pieces(), ctx.Err())
		}
	}
}

func (p *contentPeer) close() {
	p.detach()
	p.mesh.Close()
	p.client.Close()
}

func printContentTable(w io.Writer, r contentBenchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "deliver %d MiB to %d members\ttime ms\thost upload (copies)\ttarget\t\n", r.SizeBytes>>20, r.Members)
	fmt.Fprintf(tw, "swarm (every peer that has pieces)\t%.0f\t%.2f\t≤ %.0f\t\n", r.SwarmMs, r.SwarmHostUpload, r.TargetHostUpload)
	fmt.Fprintf(tw, "baseline: each member from the host alone\t%.0f\t%.2f\t\t\n", r.HostAloneMs, r.HostAloneHostUpload)
	tw.Flush()
	fmt.Fprintf(w, "swarm time / host-alone time: %.2f; %d KiB pieces; mesh connected in %.0f ms; median of %d runs; targets met: %v; load average: %s\n",
		r.SwarmTimeRatio, r.PieceSize>>10, r.ConnectMs, r.Runs, r.TargetsMet, r.LoadAvg)
}
