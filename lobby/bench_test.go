package lobby_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// BenchmarkList10k lists 10,000 lobbies through the service's list path
// with two filters that match one lobby in 100, so a page scans them all.
// "rallypoint bench lobby" prints percentiles against a plain-scan baseline.
func BenchmarkList10k(b *testing.B) {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	svc, err := lobby.New(srv, lobby.Config{})
	if err != nil {
		b.Fatal(err)
	}
	games := []string{"arena", "kart", "chess", "golf"}
	for i := 0; i < 10_000; i++ {
		if _, err := svc.Create(fmt.Sprint("owner", i), lobby.CreateData{Name: fmt.Sprint("lobby ", i), Game: games[i%4],
			Numbers: map[string]float64{"rank": float64(i % 50)}}); err != nil {
			b.Fatal(err)
		}
	}
	game, rank := "golf", 49.0
	q := lobby.ListData{Limit: lobby.MaxPageSize, Filters: []lobby.Filter{{Key: "game", Eq: &game}, {Key: "rank", Min: &rank}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := svc.List(q)
		if err != nil || len(r.Lobbies) != 100 {
			b.Fatalf("%d lobbies, %v", len(r.Lobbies), err)
		}
	}
}

// BenchmarkFanout100 times one settings change from the host's request
// until all 100 other members' clients hold the new state, over real
// WebSocket connections.
func BenchmarkFanout100(b *testing.B) {
	s := serve(b, signaling.Config{MaxConnsPerIP: -1, RatePerSec: 1e6, RateBurst: 1e6}, lobby.Config{MaxMembers: 128, MaxLobbiesPerIP: -1, UpdateBurst: 1 << 20})
	ctx := context.Background()
	host := dial(b, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "fanout", MaxMembers: 101})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	want := make(chan uint64)
	got := make(chan struct{}, n)
	members := make([]*lobby.Client, n)
	for i := range members {
		members[i] = dial(b, s.url, nil)
		if _, err := members[i].Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	version := uint64(1 + n)
	for _, m := range members {
		waitState(b, m, func(s lobby.State) bool { return s.Version == version })
	}
	stop := make(chan struct{})
	for _, m := range members {
		wg.Add(1)
		go func(m *lobby.Client) {
			defer wg.Done()
			for {
				var v uint64
				select {
				case v = <-want:
				case <-stop:
					return
				}
				for ev := range m.Events() {
					if sc, ok := ev.(lobby.StateChanged); ok && sc.State.Version == v {
						break
					}
				}
				got <- struct{}{}
			}
		}(m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		version++
		for range members {
			want <- version
		}
		if err := host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"round": fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
		for range members {
			<-got
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}
