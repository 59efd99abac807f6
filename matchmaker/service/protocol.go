package service

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/rallypoint/rallypoint/matchmaker"
)

// Message types of the matchmaking service, carried in signaling envelopes.
// The strings are part of the wire contract: only append.
const (
	// Client to server, answered with reply (data below) or error.
	TypeEnqueue  = "mm.enqueue"  // EnqueueData -> TicketData
	TypeCancel   = "mm.cancel"   // CancelData -> TicketData
	TypeStatus   = "mm.status"   // (none) -> StatusData
	TypeStats    = "mm.stats"    // StatsRequest -> StatsData
	TypeResult   = "mm.result"   // ResultData -> ResultReply
	TypeParty    = "mm.party"    // PartyData -> PartyData: agree to be enqueued by a leader
	TypeBackfill = "mm.backfill" // BackfillData -> BackfillReply: replace players who left a session

	// Server to client, pushed.
	TypeMatched    = "mm.matched"    // MatchedData: you are in a fresh room with your match
	TypeExpired    = "mm.expired"    // TicketData: your ticket's time to live ran out
	TypeRated      = "mm.rated"      // RatedData: the session's result was applied
	TypeEnqueued   = "mm.enqueued"   // TicketData: your party leader enqueued you
	TypeCanceled   = "mm.canceled"   // CanceledData: another member cancelled your party's ticket, or left
	TypeBackfilled = "mm.backfilled" // BackfilledData: new players joined your session
	TypeRequeued   = "mm.requeued"   // TicketData: a match fell through (a player left); you wait again under a new ticket
)

// Error codes of the service, in ErrorData.Code. Stable strings: only append.
const (
	CodeUnknownQueue    = "mm_unknown_queue"    // no queue of that name
	CodeInvalidTicket   = "mm_invalid_ticket"   // the ticket breaks a limit or rule of the queue
	CodeAlreadyQueued   = "mm_already_queued"   // the sender already has a waiting ticket
	CodePoolFull        = "mm_pool_full"        // the queue holds its maximum of tickets
	CodeNotFound        = "mm_not_found"        // no waiting ticket (cancel, status)
	CodeUnknownMatch    = "mm_unknown_session"  // no such session, or the sender did not play in it
	CodeInvalidResult   = "mm_invalid_result"   // ranks do not fit the session's teams
	CodeAlreadyRated    = "mm_already_rated"    // the session's result was applied already
	CodeClosed          = "mm_closed"           // the service is closed
	CodePartyNotReady   = "mm_party_not_ready"  // a listed party member has not agreed with mm.party
	CodeInvalidBackfill = "mm_invalid_backfill" // the missing players are not other players of the session
	CodeBadRequest      = "bad_request"         // the data is not valid JSON of the expected shape
	CodeInternal        = "internal"            // the rating store failed
	CodeDisputed        = "mm_disputed"         // players reported different results: the session is not rated
	CodeStillPresent    = "mm_still_present"    // a backfill names a player who is still in the session or may resume
	CodeTooManyTickets  = "mm_too_many_tickets" // the sender's address holds its maximum of waiting tickets
)

// EnqueueData is the payload of mm.enqueue. The sender is the ticket's first
// player; Party lists the peer ids of the other members of its party, each
// of which must have agreed first with mm.party naming the sender. Ratings
// come from the service's store.
type EnqueueData struct {
	Queue     string             `json:"queue"`
	Party     []string           `json:"party,omitempty"`
	Strings   map[string]string  `json:"strings,omitempty"`
	Numbers   map[string]float64 `json:"numbers,omitempty"`
	Tags      []string           `json:"tags,omitempty"`
	Latencies map[string]float64 `json:"latencies,omitempty"`
}

// TicketData answers mm.enqueue and mm.cancel, and is the payload of
// mm.expired and mm.requeued.
type TicketData struct {
	Ticket string             `json:"ticket"`
	Queue  string             `json:"queue"`
	Rating *matchmaker.Rating `json:"rating,omitempty"`
	Party  []string           `json:"party,omitempty"`
}

// BackfillData is the payload of mm.backfill: a player of a running session
// asks the matchmaker to replace the players listed in Missing, who left.
// A new request replaces a pending one.
type BackfillData struct {
	Session string   `json:"session"`
	Missing []string `json:"missing"`
}

// BackfillReply answers mm.backfill.
type BackfillReply struct {
	Backfill  string `json:"backfill"`
	OpenSlots []int  `json:"open_slots"`
}

// BackfilledData is the payload of mm.backfilled, pushed to a session's
// players when newcomers joined its room.
type BackfilledData struct {
	Session string `json:"session"`
	// Backfill is the id of the request filled (BackfillReply.Backfill).
	Backfill string     `json:"backfill,omitempty"`
	Added    []string   `json:"added"`
	Teams    [][]string `json:"teams"`
}

// PartyData is the payload of mm.party: the sender agrees that Leader may
// enqueue it in a party. An empty Leader withdraws the agreement. The reply
// echoes it.
type PartyData struct {
	Leader string `json:"leader"`
}

// CanceledData is the payload of mm.canceled: the party's ticket was
// cancelled by (or because of the departure of) the peer By.
type CanceledData struct {
	Ticket string `json:"ticket"`
	Queue  string `json:"queue"`
	By     string `json:"by"`
}

// CancelData is the payload of mm.cancel; the sender's ticket is cancelled.
type CancelData struct{}

// StatusData answers mm.status.
type StatusData struct {
	Ticket   string `json:"ticket"`
	Queue    string `json:"queue"`
	WaitedMs int64  `json:"waited_ms"`
	Ahead    int    `json:"ahead"`
}

// StatsRequest is the payload of mm.stats.
type StatsRequest struct {
	Queue string `json:"queue"`
}

// StatsData answers mm.stats.
type StatsData struct {
	Queue        string `json:"queue"`
	Tickets      int    `json:"tickets"`
	Players      int    `json:"players"`
	WaitP50Ms    int64  `json:"wait_p50_ms"`
	WaitP95Ms    int64  `json:"wait_p95_ms"`
	WaitP99Ms    int64  `json:"wait_p99_ms"`
	MatchedP50Ms int64  `json:"matched_p50_ms"`
	MatchedP95Ms int64  `json:"matched_p95_ms"`
	Matches      uint64 `json:"matches"`
	Matched      uint64 `json:"matched"`
	Expired      uint64 `json:"expired"`
	Canceled     uint64 `json:"canceled"`
}

// MatchedData is the payload of mm.matched. When it arrives the receiver is
// already in the room (the joined event came first).
type MatchedData struct {
	Session string     `json:"session"`
	Room    string     `json:"room"`
	Queue   string     `json:"queue"`
	Peers   []string   `json:"peers"`
	Host    string     `json:"host"`
	Teams   [][]string `json:"teams"`
	Team    int        `json:"team"`
	Region  string     `json:"region,omitempty"`
	Quality float64    `json:"quality"`
}

// ResultData is the payload of mm.result: the session's outcome as one
// player saw it. Ranks[i] is team i's place, lower is better, equal is a
// tie.
type ResultData struct {
	Session string    `json:"session"`
	Ranks   []float64 `json:"ranks"`
}

// ResultReply answers mm.result. Applied is true when this report completed
// the majority that applied the result.
type ResultReply struct {
	Accepted bool `json:"accepted"`
	Applied  bool `json:"applied"`
	Reports  int  `json:"reports"`
	Needed   int  `json:"needed"`
}

// RatedData is the payload of mm.rated: every player's new rating.
type RatedData struct {
	Session string                       `json:"session"`
	Ratings map[string]matchmaker.Rating `json:"ratings"`
}

// decode parses a request's data into v. Empty data is an empty object.
// Unknown fields are ignored for forward compatibility.
func decode(data json.RawMessage, v any) error {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bad data: %v", err)
	}
	return nil
}

// DecodeEnqueue parses and checks the payload of mm.enqueue.
func DecodeEnqueue(data json.RawMessage) (EnqueueData, error) {
	var d EnqueueData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if d.Queue == "" {
		return d, fmt.Errorf("missing queue")
	}
	return d, nil
}

// DecodeResult parses and checks the payload of mm.result.
func DecodeResult(data json.RawMessage) (ResultData, error) {
	var d ResultData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if d.Session == "" {
		return d, fmt.Errorf("missing session")
	}
	if len(d.Ranks) < 2 || len(d.Ranks) > matchmaker.MaxTeams {
		return d, fmt.Errorf("ranks must list 2 to %d teams", matchmaker.MaxTeams)
	}
	for _, r := range d.Ranks {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return d, fmt.Errorf("rank not finite")
		}
	}
	return d, nil
}
