package matchmaker

import (
	"math"
)

// Rating is the belief about one player's skill in the Weng-Lin model: a
// normal distribution with mean Mu and standard deviation Sigma.
type Rating struct {
	Mu    float64 `json:"mu"`
	Sigma float64 `json:"sigma"`
}

// Ordinal returns the conservative skill estimate Mu - 3*Sigma: the player's
// true skill is higher with about 99.7% probability. Leaderboards sort by it.
func (r Rating) Ordinal() float64 { return r.Mu - 3*r.Sigma }

// RatingModel selects the Weng-Lin update rule.
type RatingModel uint8

// The rating models. The values are stable.
const (
	// PlackettLuce is Weng and Lin's Algorithm 4: a ranking of any number of
	// teams is scored as a sequence of choices. Cost grows with teams².
	PlackettLuce RatingModel = iota
	// BradleyTerryFull is Weng and Lin's Algorithm 1: every pair of teams is
	// compared. Cost grows with teams².
	BradleyTerryFull
)

// String returns the model's name.
func (m RatingModel) String() string {
	switch m {
	case PlackettLuce:
		return "plackett-luce"
	case BradleyTerryFull:
		return "bradley-terry-full"
	default:
		return "unknown"
	}
}

// Default model parameters, the same as openskill's.
const (
	DefaultMu    = 25.0
	DefaultSigma = 25.0 / 3
	DefaultBeta  = 25.0 / 6
	DefaultKappa = 0.0001
	DefaultTau   = 25.0 / 300
)

// RatingConfig parameterises a Rater. The zero value is openskill's default
// Plackett-Luce model.
type RatingConfig struct {
	// Model is the update rule. Zero means PlackettLuce.
	Model RatingModel
	// Mu is the mean of a new player's rating. Zero means DefaultMu (25).
	Mu float64
	// Sigma is the standard deviation of a new player's rating. Zero means
	// DefaultSigma (25/3).
	Sigma float64
	// Beta is the performance noise: how far one game's performance strays
	// from skill. Zero means DefaultBeta (25/6, as openskill, whatever Mu).
	Beta float64
	// Kappa is the floor that keeps variance positive. Zero means
	// DefaultKappa.
	Kappa float64
	// Tau is added (in quadrature) to every sigma before an update, so
	// ratings keep moving. Zero means DefaultTau (25/300); a negative value
	// means no additive dynamics.
	Tau float64
	// LimitSigma keeps an update from increasing any player's sigma (the
	// increase Tau would otherwise cause).
	LimitSigma bool
}

func (c RatingConfig) withDefaults() RatingConfig {
	if c.Mu == 0 {
		c.Mu = DefaultMu
	}
	if c.Sigma == 0 {
		c.Sigma = DefaultSigma
	}
	if c.Beta == 0 {
		c.Beta = DefaultBeta
	}
	if c.Kappa == 0 {
		c.Kappa = DefaultKappa
	}
	if c.Tau == 0 {
		c.Tau = DefaultTau
	} else if c.Tau < 0 {
		c.Tau = 0
	}
	return c
}

// Rater updates Weng-Lin ratings after games and predicts outcomes.
//
// A Rater keeps scratch space between calls so that an update does not
// allocate once the Rater has seen a game of that size: it is not safe for
// concurrent use. Use one Rater per goroutine.
type Rater struct {
	cfg RatingConfig

	order    []int     // team indices sorted by rank (stable)
	rank     []float64 // ranks in sorted order
	crank    []int     // competition rank per sorted position
	tmu      []float64 // team mu sum, sorted order
	tsig2    []float64 // team sigma² sum, sorted order
	sumQ     []float64
	count    []float64
	expMu    []float64
	omega    []float64
	delta    []float64
	sigmas   []float64 // original sigmas, flattened, for LimitSigma
	scoreBuf []float64
	// margins[n] is the draw margin of a game of n players (predictDraw),
	// NaN until computed: it costs an inverse error function, and a pass
	// asks for the same few sizes for every match.
	margins []float64
}

// NewRater returns a Rater for cfg.
func NewRater(cfg RatingConfig) *Rater {
	return &Rater{cfg: cfg.withDefaults()}
}

// Config returns the Rater's configuration with defaults filled in.
func (r *Rater) Config() RatingConfig { return r.cfg }

// NewRating returns the rating of a player who has not played yet.
func (r *Rater) NewRating() Rating { return Rating{Mu: r.cfg.Mu, Sigma: r.cfg.Sigma} }

func (r *Rater) grow(k, players int) {
	if cap(r.order) < k {
		r.order = make([]int, k)
		r.rank = make([]float64, k)
		r.crank = make([]int, k)
		r.tmu = make([]float64, k)
		r.tsig2 = make([]float64, k)
		r.sumQ = make([]float64, k)
		r.count = make([]float64, k)
		r.expMu = make([]float64, k)
		r.omega = make([]float64, k)
		r.delta = make([]float64, k)
	}
	r.order = r.order[:k]
	r.rank = r.rank[:k]
	r.crank = r.crank[:k]
	r.tmu = r.tmu[:k]
	r.tsig2 = r.tsig2[:k]
	r.sumQ = r.sumQ[:k]
	r.count = r.count[:k]
	r.expMu = r.expMu[:k]
	r.omega = r.omega[:k]
	r.delta = r.delta[:k]
	if cap(r.sigmas) < players {
		r.sigmas = make([]float64, players)
	}
	r.sigmas = r.sigmas[:players]
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// MaxRatingValue bounds |Mu| and Sigma: beyond it squares and sums of a
// game's ratings would overflow.
const MaxRatingValue = 1e9

// valid reports whether r can be rated: finite, |Mu| and Sigma at most
// MaxRatingValue, and Sigma positive.
func (r Rating) valid() bool {
	return finite(r.Mu) && finite(r.Sigma) && r.Sigma > 0 && math.Abs(r.Mu) <= MaxRatingValue && r.Sigma <= MaxRatingValue
}

func validateTeams(teams [][]Rating, ranks []float64) (players int, err error) {
	if len(teams) < 2 {
		return 0, &RatingError{Reason: "fewer than two teams", Err: ErrInvalidGame}
	}
	if len(teams) > MaxTeams {
		return 0, &RatingError{Reason: "too many teams", Err: ErrInvalidGame}
	}
	if ranks != nil && len(ranks) != len(teams) {
		return 0, &RatingError{Reason: "ranks and teams differ in length", Err: ErrInvalidGame}
	}
	for i, t := range teams {
		if len(t) == 0 {
			return 0, &RatingError{Team: i, Reason: "empty team", Err: ErrInvalidGame}
		}
		for _, p := range t {
			if !p.valid() {
				return 0, &RatingError{Team: i, Reason: "rating is not finite, too large, or sigma is not positive", Err: ErrInvalidRating}
			}
		}
		players += len(t)
		if ranks != nil && !finite(ranks[i]) {
			return 0, &RatingError{Team: i, Reason: "rank is not finite", Err: ErrInvalidGame}
		}
	}
	if players > MaxPlayersPerGame {
		return 0, &RatingError{Reason: "too many players", Err: ErrInvalidGame}
	}
	return players, nil
}

// Rate updates the ratings of a finished game in place. teams[i] holds the
// ratings of team i's players. ranks[i] is team i's place: lower is better
// and equal ranks are ties. A nil ranks means teams are listed in finishing
// order, first to last.
//
// Rate returns an error wrapping ErrInvalidGame or ErrInvalidRating, and
// changes nothing, when the game is malformed.
func (r *Rater) Rate(teams [][]Rating, ranks []float64) error {
	players, err := validateTeams(teams, ranks)
	if err != nil {
		return err
	}
	k := len(teams)
	r.grow(k, players)

	// Remember sigmas for LimitSigma, then widen them by tau.
	tau2 := r.cfg.Tau * r.cfg.Tau
	n := 0
	for _, t := range teams {
		for j := range t {
			r.sigmas[n] = t[j].Sigma
			n++
			if tau2 > 0 {
				t[j].Sigma = math.Sqrt(t[j].Sigma*t[j].Sigma + tau2)
			}
		}
	}

	// Stable sort of team indices by rank: insertion sort, no allocation.
	for i := range r.order {
		r.order[i] = i
	}
	if ranks != nil {
		for i := 1; i < k; i++ {
			for j := i; j > 0 && ranks[r.order[j-1]] > ranks[r.order[j]]; j-- {
				r.order[j-1], r.order[j] = r.order[j], r.order[j-1]
			}
		}
	}
	for s, ti := range r.order {
		if ranks != nil {
			r.rank[s] = ranks[ti]
		} else {
			r.rank[s] = float64(s)
		}
		if s > 0 && r.rank[s-1] == r.rank[s] {
			r.crank[s] = r.crank[s-1]
		} else {
			r.crank[s] = s
		}
		var mu, sig2 float64
		for _, p := range teams[ti] {
			mu += p.Mu
			sig2 += p.Sigma * p.Sigma
		}
		r.tmu[s] = mu
		r.tsig2[s] = sig2
	}

	switch r.cfg.Model {
	case BradleyTerryFull:
		r.bradleyTerryFull()
	default:
		r.plackettLuce()
	}

	// Apply the team-level omega/delta to each player.
	for s, ti := range r.order {
		sig2 := r.tsig2[s]
		t := teams[ti]
		for j := range t {
			share := t[j].Sigma * t[j].Sigma / sig2
			t[j].Mu += share * r.omega[s]
			t[j].Sigma *= math.Sqrt(math.Max(1-share*r.delta[s], r.cfg.Kappa))
		}
	}
	if r.cfg.LimitSigma {
		n = 0
		for _, t := range teams {
			for j := range t {
				if t[j].Sigma > r.sigmas[n] {
					t[j].Sigma = r.sigmas[n]
				}
				n++
			}
		}
	}
	return nil
}

// RateScores is Rate with scores instead of ranks: higher is better and
// equal scores are ties.
func (r *Rater) RateScores(teams [][]Rating, scores []float64) error {
	if len(scores) != len(teams) {
		return &RatingError{Reason: "scores and teams differ in length", Err: ErrInvalidGame}
	}
	if cap(r.scoreBuf) < len(scores) {
		r.scoreBuf = make([]float64, len(scores))
	}
	ranks := r.scoreBuf[:len(scores)]
	for i, s := range scores {
		ranks[i] = -s
	}
	return r.Rate(teams, ranks)
}

func (r *Rater) plackettLuce() {
	k := len(r.order)
	beta2 := r.cfg.Beta * r.cfg.Beta
	var c float64
	for s := 0; s < k; s++ {
		c += r.tsig2[s] + beta2
	}
	c = math.Sqrt(c)
	// The terms exp(mu/c) overflow or underflow for extreme ratings, and
	// only their ratios matter: work with logarithms. expMu holds mu/c and
	// sumQ the log of the sum over each rank's set C_q.
	for s := 0; s < k; s++ {
		r.expMu[s] = r.tmu[s] / c
	}
	for q := 0; q < k; q++ {
		m := math.Inf(-1)
		var cnt float64
		for i := 0; i < k; i++ {
			if r.crank[i] >= r.crank[q] {
				m = math.Max(m, r.expMu[i])
			}
			if r.crank[i] == r.crank[q] {
				cnt++
			}
		}
		var sum float64
		for i := 0; i < k; i++ {
			if r.crank[i] >= r.crank[q] {
				sum += math.Exp(r.expMu[i] - m)
			}
		}
		r.sumQ[q] = m + math.Log(sum)
		r.count[q] = cnt
	}
	for i := 0; i < k; i++ {
		var omega, delta float64
		for q := 0; q < k; q++ {
			if r.crank[q] > r.crank[i] {
				continue
			}
			t := math.Exp(r.expMu[i] - r.sumQ[q])
			delta += t * (1 - t) / r.count[q]
			if q == i {
				omega += (1 - t) / r.count[q]
			} else {
				omega -= t / r.count[q]
			}
		}
		sig2 := r.tsig2[i]
		omega *= sig2 / c
		delta *= sig2 / (c * c)
		delta *= math.Sqrt(sig2) / c // gamma
		r.omega[i] = omega
		r.delta[i] = delta
	}
}

func (r *Rater) bradleyTerryFull() {
	k := len(r.order)
	twoBeta2 := 2 * r.cfg.Beta * r.cfg.Beta
	for i := 0; i < k; i++ {
		var omega, delta float64
		for q := 0; q < k; q++ {
			if q == i {
				continue
			}
			ciq := math.Sqrt(r.tsig2[i] + r.tsig2[q] + twoBeta2)
			piq := 1 / (1 + math.Exp((r.tmu[q]-r.tmu[i])/ciq))
			sig2c := r.tsig2[i] / ciq
			var s float64
			switch {
			case r.crank[q] > r.crank[i]:
				s = 1
			case r.crank[q] == r.crank[i]:
				s = 0.5
			}
			omega += sig2c * (s - piq)
			gamma := math.Sqrt(r.tsig2[i]) / ciq
			delta += gamma * sig2c / ciq * piq * (1 - piq)
		}
		r.omega[i] = omega
		r.delta[i] = delta
	}
}

// phi is the standard normal cumulative distribution function.
func phi(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// phiInv is the inverse of phi.
func phiInv(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

func teamSums(t []Rating) (mu, sig2 float64) {
	for _, p := range t {
		mu += p.Mu
		sig2 += p.Sigma * p.Sigma
	}
	return mu, sig2
}

// PredictWin returns each team's probability of winning, in the order of
// teams; the probabilities add up to 1. It follows openskill's pairwise
// approximation.
func (r *Rater) PredictWin(teams [][]Rating) ([]float64, error) {
	if _, err := validateTeams(teams, nil); err != nil {
		return nil, err
	}
	return r.predictWin(teams, make([]float64, len(teams))), nil
}

func (r *Rater) predictWin(teams [][]Rating, out []float64) []float64 {
	k := len(teams)
	beta2 := r.cfg.Beta * r.cfg.Beta
	if k == 2 {
		n := float64(len(teams[0]) + len(teams[1]))
		ma, sa := teamSums(teams[0])
		mb, sb := teamSums(teams[1])
		p := phi((ma - mb) / math.Sqrt(n*beta2+sa+sb))
		out[0], out[1] = p, 1-p
		return out
	}
	denom := float64(k*(k-1)) / 2
	for a := 0; a < k; a++ {
		ma, sa := teamSums(teams[a])
		var sum float64
		for b := 0; b < k; b++ {
			if a == b {
				continue
			}
			mb, sb := teamSums(teams[b])
			sum += phi((ma - mb) / math.Sqrt(float64(k)*beta2+sa+sb))
		}
		out[a] = sum / denom
	}
	return out
}

// PredictDraw returns the probability that the game ends in a draw, as
// openskill computes it. For two evenly matched teams it is high; it is the
// matchmaker's quality score.
func (r *Rater) PredictDraw(teams [][]Rating) (float64, error) {
	if _, err := validateTeams(teams, nil); err != nil {
		return 0, err
	}
	return r.predictDraw(teams), nil
}

// margin returns the draw margin of a game of total players.
func (r *Rater) margin(total int) float64 {
	if total < len(r.margins) && !math.IsNaN(r.margins[total]) {
		return r.margins[total]
	}
	drawP := 1 / float64(total)
	m := math.Sqrt(float64(total)) * r.cfg.Beta * phiInv((1+drawP)/2)
	if total <= MaxTeams*MaxTeamSize {
		for len(r.margins) <= total {
			r.margins = append(r.margins, math.NaN())
		}
		r.margins[total] = m
	}
	return m
}

func (r *Rater) predictDraw(teams [][]Rating) float64 {
	k := len(teams)
	beta2 := r.cfg.Beta * r.cfg.Beta
	total := 0
	for _, t := range teams {
		total += len(t)
	}
	margin := r.margin(total)
	var sum float64
	for a := 0; a < k; a++ {
		ma, sa := teamSums(teams[a])
		for b := 0; b < k; b++ {
			if a == b {
				continue
			}
			mb, sb := teamSums(teams[b])
			d := math.Sqrt(float64(k)*beta2 + sa + sb)
			sum += phi((margin-ma+mb)/d) - phi((ma-mb-margin)/d)
		}
	}
	denom := 1.0
	if k > 2 {
		denom = float64(k * (k - 1))
	}
	return math.Abs(sum) / denom
}
