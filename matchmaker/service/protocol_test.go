package service

import (
	"encoding/json"
	"testing"

	"github.com/rallypoint/rallypoint/matchmaker"
)

// TestWireGolden pins the JSON of every mm.* payload: changing a field name
// breaks clients, so it must be a deliberate protocol change.
func TestWireGolden(t *testing.T) {
	r := matchmaker.Rating{Mu: 25, Sigma: 8.5}
	cases := []struct {
		v    any
		want string
	}{
		{EnqueueData{Queue: "1v1", Party: []string{"p2"}, Strings: map[string]string{"mode": "ctf"}, Numbers: map[string]float64{"level": 3}, Tags: []string{"eu"}, Latencies: map[string]float64{"eu": 20}},
			`{"queue":"1v1","party":["p2"],"strings":{"mode":"ctf"},"numbers":{"level":3},"tags":["eu"],"latencies":{"eu":20}}`},
		{TicketData{Ticket: "t1", Queue: "1v1", Rating: &r}, `{"ticket":"t1","queue":"1v1","rating":{"mu":25,"sigma":8.5}}`},
		{PartyData{Leader: "p1"}, `{"leader":"p1"}`},
		{CanceledData{Ticket: "t1", Queue: "2v2", By: "p2"}, `{"ticket":"t1","queue":"2v2","by":"p2"}`},
		{StatusData{Ticket: "t1", Queue: "1v1", WaitedMs: 1500, Ahead: 2}, `{"ticket":"t1","queue":"1v1","waited_ms":1500,"ahead":2}`},
		{StatsRequest{Queue: "1v1"}, `{"queue":"1v1"}`},
		{StatsData{Queue: "1v1", Tickets: 3, Players: 3, WaitP50Ms: 1, WaitP95Ms: 2, WaitP99Ms: 3, MatchedP50Ms: 4, MatchedP95Ms: 5, Matches: 6, Matched: 12, Expired: 1, Canceled: 2},
			`{"queue":"1v1","tickets":3,"players":3,"wait_p50_ms":1,"wait_p95_ms":2,"wait_p99_ms":3,"matched_p50_ms":4,"matched_p95_ms":5,"matches":6,"matched":12,"expired":1,"canceled":2}`},
		{MatchedData{Session: "s", Room: "s", Queue: "1v1", Peers: []string{"a", "b"}, Host: "a", Teams: [][]string{{"a"}, {"b"}}, Team: 1, Region: "eu", Quality: 0.5},
			`{"session":"s","room":"s","queue":"1v1","peers":["a","b"],"host":"a","teams":[["a"],["b"]],"team":1,"region":"eu","quality":0.5}`},
		{ResultData{Session: "s", Ranks: []float64{1, 2}}, `{"session":"s","ranks":[1,2]}`},
		{ResultReply{Accepted: true, Applied: false, Reports: 1, Needed: 2}, `{"accepted":true,"applied":false,"reports":1,"needed":2}`},
		{RatedData{Session: "s", Ratings: map[string]matchmaker.Rating{"a": r}}, `{"session":"s","ratings":{"a":{"mu":25,"sigma":8.5}}}`},
		{BackfillData{Session: "s", Missing: []string{"b"}}, `{"session":"s","missing":["b"]}`},
		{BackfillReply{Backfill: "bf", OpenSlots: []int{0, 1}}, `{"backfill":"bf","open_slots":[0,1]}`},
		{BackfilledData{Session: "s", Backfill: "bf", Added: []string{"c"}, Teams: [][]string{{"a"}, {"c"}}}, `{"session":"s","backfill":"bf","added":["c"],"teams":[["a"],["c"]]}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%T:\n got %s\nwant %s", c.v, b, c.want)
		}
	}
	types := []string{TypeEnqueue, TypeCancel, TypeStatus, TypeStats, TypeResult, TypeParty, TypeBackfill,
		TypeMatched, TypeExpired, TypeRated, TypeEnqueued, TypeCanceled, TypeBackfilled, TypeRequeued}
	want := []string{"mm.enqueue", "mm.cancel", "mm.status", "mm.stats", "mm.result", "mm.party", "mm.backfill",
		"mm.matched", "mm.expired", "mm.rated", "mm.enqueued", "mm.canceled", "mm.backfilled", "mm.requeued"}
	for i := range types {
		if types[i] != want[i] {
			t.Errorf("type %q, want %q", types[i], want[i])
		}
	}
}
