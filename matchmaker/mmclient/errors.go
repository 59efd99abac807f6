package mmclient

import (
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// Sentinel errors. The service's coded errors come back as *Error, which
// matches the sentinel of its code with errors.Is.
var (
	// ErrClosed is returned by every call after Close, and when the
	// signaling client is closed.
	ErrClosed = errors.New("mmclient: closed")
	// ErrNotQueued is returned by WaitMatched when the client has no ticket
	// and none is on its way, and matches service.CodeNotFound (mm.cancel
	// or mm.status without a waiting ticket).
	ErrNotQueued = errors.New("mmclient: no waiting ticket")
	// ErrExpired is returned by WaitMatched when the ticket's time to live
	// ran out (event Expired).
	ErrExpired = errors.New("mmclient: ticket expired")
	// ErrCanceled is returned by WaitMatched when the ticket was cancelled:
	// by Cancel, by a party member (event Canceled), or because the
	// client's signaling session was lost in a reconnect that did not
	// resume it (the server cancels the tickets of peers that are gone).
	ErrCanceled = errors.New("mmclient: ticket canceled")
	// ErrLost is returned by WaitMatched when pushed messages were dropped
	// (event Overflowed) and mm.status shows the ticket gone: it may have
	// been matched, but the match's details are lost.
	ErrLost = errors.New("mmclient: ticket lost with dropped messages")

	// ErrUnknownQueue matches service.CodeUnknownQueue: no queue of that name.
	ErrUnknownQueue = errors.New("mmclient: unknown queue")
	// ErrInvalidTicket matches service.CodeInvalidTicket: the ticket breaks
	// a limit or a rule of the queue.
	ErrInvalidTicket = errors.New("mmclient: invalid ticket")
	// ErrAlreadyQueued matches service.CodeAlreadyQueued: the client (or a
	// party member) already has a waiting ticket.
	ErrAlreadyQueued = errors.New("mmclient: already queued")
	// ErrPoolFull matches service.CodePoolFull: the queue is full.
	ErrPoolFull = errors.New("mmclient: queue is full")
	// ErrUnknownSession matches service.CodeUnknownMatch: no such session,
	// or the client did not play in it.
	ErrUnknownSession = errors.New("mmclient: unknown session")
	// ErrInvalidResult matches service.CodeInvalidResult: the ranks do not
	// fit the session's teams.
	ErrInvalidResult = errors.New("mmclient: invalid result")
	// ErrAlreadyRated matches service.CodeAlreadyRated.
	ErrAlreadyRated = errors.New("mmclient: session already rated")
	// ErrPartyNotReady matches service.CodePartyNotReady: a listed party
	// member has not agreed with JoinParty.
	ErrPartyNotReady = errors.New("mmclient: party member has not agreed")
	// ErrInvalidBackfill matches service.CodeInvalidBackfill.
	ErrInvalidBackfill = errors.New("mmclient: invalid backfill")
	// ErrServiceClosed matches service.CodeClosed: the matchmaker is shut
	// down.
	ErrServiceClosed = errors.New("mmclient: matchmaker closed")
	// ErrBadRequest matches service.CodeBadRequest.
	ErrBadRequest = errors.New("mmclient: bad request")
)

var sentinels = map[string]error{
	service.CodeUnknownQueue:    ErrUnknownQueue,
	service.CodeInvalidTicket:   ErrInvalidTicket,
	service.CodeAlreadyQueued:   ErrAlreadyQueued,
	service.CodePoolFull:        ErrPoolFull,
	service.CodeNotFound:        ErrNotQueued,
	service.CodeUnknownMatch:    ErrUnknownSession,
	service.CodeInvalidResult:   ErrInvalidResult,
	service.CodeAlreadyRated:    ErrAlreadyRated,
	service.CodePartyNotReady:   ErrPartyNotReady,
	service.CodeInvalidBackfill: ErrInvalidBackfill,
	service.CodeClosed:          ErrServiceClosed,
	service.CodeBadRequest:      ErrBadRequest,
}

// Error is a coded error the matchmaker answered with. It unwraps to the
// sentinel of its code (errors.Is(err, ErrUnknownQueue)) and to the
// *signaling.Error it arrived as.
type Error = signaling.ServiceError

// wrapErr turns a *signaling.Error into an *Error, signaling.ErrClosed into
// ErrClosed, and leaves other errors alone.
func wrapErr(err error) error {
	if errors.Is(err, signaling.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return signaling.AsServiceError("mmclient", err, sentinels)
}
