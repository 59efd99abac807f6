package lobby

import (
	"errors"

	"github.com/rallypoint/rallypoint/signaling"
)

// Sentinel errors. A Client returns the service's coded errors as *Error,
// which matches the sentinel of its code with errors.Is.
var (
	// ErrClosed is returned by the calls of a Service or Client after
	// Close, and matches CodeClosed.
	ErrClosed = errors.New("lobby: closed")
	// ErrBadRequest matches CodeBadRequest: data of the wrong shape.
	ErrBadRequest = errors.New("lobby: bad request")
	// ErrInvalid matches CodeInvalid: a name, size or metadata breaks a limit.
	ErrInvalid = errors.New("lobby: invalid lobby data")
	// ErrNotFound matches CodeNotFound: no such lobby (or a private one asked by id).
	ErrNotFound = errors.New("lobby: no such lobby")
	// ErrFull matches CodeFull: the lobby has its maximum of members.
	ErrFull = errors.New("lobby: lobby is full")
	// ErrWrongPassword matches CodeWrongPassword.
	ErrWrongPassword = errors.New("lobby: wrong password")
	// ErrBanned matches CodeBanned: the host banned this peer (or its subject).
	ErrBanned = errors.New("lobby: banned from the lobby")
	// ErrNotHost matches CodeNotHost: kick, ban, settings and start are the host's.
	ErrNotHost = errors.New("lobby: only the host may do this")
	// ErrNotMember matches CodeNotMember: the sender (or the kick's target) is not in the lobby.
	ErrNotMember = errors.New("lobby: not a member")
	// ErrAlreadyMember matches CodeAlreadyMember: a peer is in one lobby at a time.
	ErrAlreadyMember = errors.New("lobby: already in a lobby")
	// ErrChatTooLong matches CodeChatTooLong: over Config.MaxChatLen.
	ErrChatTooLong = errors.New("lobby: chat message too long")
	// ErrChatFlood matches CodeChatFlood: the sender's chat token bucket is empty.
	ErrChatFlood = errors.New("lobby: chat rate limit")
	// ErrTooManyLobbies matches CodeTooManyLobbies: Config.MaxLobbies reached.
	ErrTooManyLobbies = errors.New("lobby: too many lobbies")
	// ErrBadFilter matches CodeBadFilter: a malformed list filter or page.
	ErrBadFilter = errors.New("lobby: bad filter")
	// ErrStarted matches CodeStarted: the lobby started its match.
	ErrStarted = errors.New("lobby: lobby already started")
	// ErrNotStarted matches CodeNotStarted: a spectator asked for a lobby
	// whose match has not started.
	ErrNotStarted = errors.New("lobby: lobby has not started")
	// ErrNotReady matches CodeNotReady: start needs every other member ready.
	ErrNotReady = errors.New("lobby: not every member is ready")
	// ErrNotInLobby is returned by Client calls that need a lobby when the
	// client holds none.
	ErrNotInLobby = errors.New("lobby: client is in no lobby")
	// ErrLobbyClosed is the Err of a Closed event when the lobby's host
	// closed the lobby.
	ErrLobbyClosed = errors.New("lobby: the host closed the lobby")
	// ErrHostGone is wrapped by the Err of a Closed event when a LAN
	// lobby's host is gone: the connection to it dropped and was not
	// resumed in time (ClientConfig.HostGrace, or HostSilence after the
	// host went silent).
	ErrHostGone = errors.New("lobby: the LAN host is gone")
	// ErrKicked is wrapped by MatchLAN's error when the host removed the
	// player from the lobby before the match started.
	ErrKicked = errors.New("lobby: kicked from the lobby")
)

var sentinels = map[string]error{
	CodeBadRequest:     ErrBadRequest,
	CodeInvalid:        ErrInvalid,
	CodeNotFound:       ErrNotFound,
	CodeFull:           ErrFull,
	CodeWrongPassword:  ErrWrongPassword,
	CodeBanned:         ErrBanned,
	CodeNotHost:        ErrNotHost,
	CodeNotMember:      ErrNotMember,
	CodeAlreadyMember:  ErrAlreadyMember,
	CodeChatTooLong:    ErrChatTooLong,
	CodeChatFlood:      ErrChatFlood,
	CodeTooManyLobbies: ErrTooManyLobbies,
	CodeBadFilter:      ErrBadFilter,
	CodeStarted:        ErrStarted,
	CodeNotReady:       ErrNotReady,
	CodeNotStarted:     ErrNotStarted,
	CodeClosed:         ErrClosed,
}

// Error is a coded error the lobby service answered with. It unwraps to
// the sentinel of its code (errors.Is(err, ErrFull)) and to the
// *signaling.Error it arrived as.
type Error = signaling.ServiceError

// codedError is the *Error of a code, for the Service's own calls.
func codedError(code, msg string) *Error {
	return &Error{Service: "lobby", Code: code, Message: msg, Sentinel: sentinels[code]}
}

// wrapErr turns a *signaling.Error with a lobby code into an *Error and
// leaves other errors alone.
func wrapErr(err error) error { return signaling.AsServiceError("lobby", err, sentinels) }
