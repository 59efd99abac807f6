package service

import (
	"context"
	"sync"

	"github.com/rallypoint/rallypoint/matchmaker"
)

// Store keeps players' ratings between matches. Implementations must be
// safe for concurrent use.
type Store interface {
	// Get returns a player's rating; ok is false for a player never rated.
	Get(ctx context.Context, player string) (r matchmaker.Rating, ok bool, err error)
	// Put stores new ratings of several players at once.
	Put(ctx context.Context, ratings map[string]matchmaker.Rating) error
}

// ResultRecorder is implemented by stores that keep match results (the
// server's SQL store does, through its wiring): after a result is applied
// the service records the session, its queue, the players' store keys by
// team ("" for an anonymous player) and the agreed ranks. A failure is
// logged; the ratings are already stored.
type ResultRecorder interface {
	RecordResult(ctx context.Context, session, queue string, teams [][]string, ranks []float64) error
}

// MemoryStore is a Store in memory: the default. The zero value is empty
// and ready.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string]matchmaker.Rating
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, player string) (matchmaker.Rating, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.m[player]
	return r, ok, nil
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, ratings map[string]matchmaker.Rating) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]matchmaker.Rating, len(ratings))
	}
	for k, v := range ratings {
		s.m[k] = v
	}
	return nil
}
