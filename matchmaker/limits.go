package matchmaker

// Limits. Input beyond them is refused with a coded error before anything
// is allocated for it.
const (
	// MaxTeams is the most teams a match or a rated game may have.
	MaxTeams = 64
	// MaxTeamSize is the most players on one team.
	MaxTeamSize = 64
	// MaxPlayersPerGame is the most players a rated game may have.
	MaxPlayersPerGame = 1024
	// MaxPartySize is the most players one ticket may carry.
	MaxPartySize = MaxTeamSize
	// MaxAttributes is the most string, number, tag or latency entries of
	// each kind one ticket may carry.
	MaxAttributes = 32
	// MaxStringLen is the longest id, key, value or tag in bytes.
	MaxStringLen = 128
	// MaxRules is the most rules one queue may have.
	MaxRules = 16
	// MaxSteps is the most expansion steps one rule may have.
	MaxSteps = 16
)
