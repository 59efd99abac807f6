package arena

import "fmt"

// Phase is the stage of a round.
type Phase uint8

// The phases, in the order a round goes through them.
const (
	// PhaseCountdown is the pause before a round: tanks may turn but not
	// move or fire.
	PhaseCountdown Phase = iota
	// PhasePlay is the round itself.
	PhasePlay
	// PhaseRoundOver is the pause after a round, showing its winner.
	PhaseRoundOver
	// PhaseMatchOver is the end: a player has won WinRounds rounds. The
	// state no longer changes apart from Frame.
	PhaseMatchOver

	phaseCount
)

// String returns the phase's name.
func (p Phase) String() string {
	switch p {
	case PhaseCountdown:
		return "countdown"
	case PhasePlay:
		return "play"
	case PhaseRoundOver:
		return "round over"
	case PhaseMatchOver:
		return "match over"
	default:
		return fmt.Sprintf("Phase(%d)", uint8(p))
	}
}

// PickupKind says what a pickup gives.
type PickupKind uint8

// The pickup kinds. None marks an empty slot.
const (
	PickupNone   PickupKind = iota
	PickupHealth            // one hit point back, up to MaxHP
	PickupShield            // absorbs the next hit
	PickupRapid             // faster fire for a few seconds

	pickupKinds
)

// Player is one tank.
type Player struct {
	X, Y         Fixed  // centre
	VX, VY       Fixed  // velocity per frame
	Angle        Angle  // facing, which is also where the gun points
	HP           int8   // hit points left; 0 when dead
	Alive        bool   // still in the round
	Shield       bool   // the next hit is absorbed
	FireCooldown uint8  // frames until the gun is ready
	DashCooldown uint8  // frames until the next dash
	HitFlash     uint8  // frames left of the "just hit" flash
	RapidTicks   uint16 // frames of rapid fire left
	Wins         uint8  // rounds won in this match
	Kills        uint16 // tanks destroyed in this match
}

// Bullet is a shot in flight. A bullet with TTL 0 is a free slot.
type Bullet struct {
	X, Y    Fixed
	VX, VY  Fixed
	TTL     uint8 // frames left to live; 0 means the slot is free
	Owner   uint8 // the player who fired it
	Bounces uint8 // wall bounces left
	Bounced bool  // it has bounced, and may now hit its owner too
}

// Pickup is an item on the ground.
type Pickup struct {
	X, Y Fixed
	Kind PickupKind // PickupNone: the slot is empty
}

// Blast is an explosion effect, kept in the state only so that every peer
// draws the same thing.
type Blast struct {
	X, Y Fixed
	TTL  uint8 // frames left to draw; 0 means none
	Big  bool  // a tank was destroyed (else a bullet hit)
}

// State is the whole game. It is a flat value with no pointers, slices or
// maps: assigning it copies it, which is how Save and Load work, and two
// states with the same fields have the same future.
//
// Fields are exported for drawing; code other than this package should treat
// them as read-only and change a State only through Step.
type State struct {
	Frame       uint32 // number of Step calls since New
	NumPlayers  uint8  // players in the match, MinPlayers to MaxPlayers
	Phase       Phase
	PhaseTicks  uint16 // frames left in the current phase
	Round       uint8  // the current round, from 1
	RoundWinner int8   // winner of the last round, -1 for a draw or none yet
	MatchWinner int8   // winner of the match, -1 until PhaseMatchOver
	NextBlast   uint8  // the Blasts slot the next effect goes to
	PickupTimer uint16 // frames until the next pickup appears
	Rng         uint64 // the state of the game's only random generator

	Players [MaxPlayers]Player
	Bullets [MaxBullets]Bullet
	Pickups [MaxPickups]Pickup
	Blasts  [MaxBlasts]Blast

	// Map is the arena the match is played in, fixed by New or
	// NewWithLayout. It is part of the state so that every copy, encoding
	// and checksum carries it.
	Map Layout
}

// New returns a match of players players (MinPlayers to MaxPlayers) at the
// start of its first round's countdown. The seed decides where pickups
// appear; peers that use the same seed and the same inputs see the same
// game. New panics if players is out of range, like make with a negative
// length: check user input with ValidPlayers first.
func New(players int, seed uint64) *State {
	return NewWithLayout(DefaultLayout(), players, seed)
}

// NewWithLayout is New in the arena l, which must be valid (see
// Layout.Validate; ParseMap returns only valid layouts). It panics if
// players is out of range or l is invalid.
func NewWithLayout(l Layout, players int, seed uint64) *State {
	if !ValidPlayers(players) {
		panic(fmt.Sprintf("arena: New with %d players, want %d to %d", players, MinPlayers, MaxPlayers))
	}
	if err := l.Validate(); err != nil {
		panic(fmt.Sprintf("arena: New with an invalid layout: %v", err))
	}
	s := &State{NumPlayers: uint8(players), Rng: seed, MatchWinner: -1, Map: l}
	s.startRound()
	return s
}

// ValidPlayers reports whether n players can play a match.
func ValidPlayers(n int) bool { return n >= MinPlayers && n <= MaxPlayers }

// Save copies s into dst. It does not allocate.
func (s *State) Save(dst *State) { *dst = *s }

// Load replaces s with src. It does not allocate.
func (s *State) Load(src *State) { *s = *src }

// Alive returns the number of tanks still in the round.
func (s *State) Alive() int {
	n := 0
	for i := 0; i < int(s.NumPlayers); i++ {
		if s.Players[i].Alive {
			n++
		}
	}
	return n
}

// rand returns the next number of the state's generator (SplitMix64).
func (s *State) rand() uint64 {
	s.Rng += 0x9e3779b97f4a7c15
	z := s.Rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *State) startRound() {
	s.Round++
	s.Phase = PhaseCountdown
	s.PhaseTicks = countdownTicks
	s.RoundWinner = -1
	s.PickupTimer = firstPickup
	s.Bullets = [MaxBullets]Bullet{}
	s.Pickups = [MaxPickups]Pickup{}
	s.Blasts = [MaxBlasts]Blast{}
	s.NextBlast = 0
	cx, cy := s.Map.Width/2, s.Map.Height/2
	for i := 0; i < int(s.NumPlayers); i++ {
		p := &s.Players[i]
		x, y := s.Map.Spawns[i].X, s.Map.Spawns[i].Y
		*p = Player{
			X: x, Y: y,
			Angle: AngleTo(cx-x, cy-y),
			HP:    MaxHP,
			Alive: true,
			Wins:  p.Wins,
			Kills: p.Kills,
		}
	}
}

// Step advances the game by one frame. inputs[i] is player i's input;
// missing entries (a short slice) count as no input and entries beyond
// NumPlayers are ignored. Step does not allocate.
func (s *State) Step(inputs []Input) {
	s.Frame++
	switch s.Phase {
	case PhaseCountdown:
		for i := 0; i < int(s.NumPlayers); i++ {
			s.turn(&s.Players[i], inputAt(inputs, i))
		}
		s.PhaseTicks--
		if s.PhaseTicks == 0 {
			s.Phase = PhasePlay
			s.PhaseTicks = roundTicks
		}
	case PhasePlay:
		s.play(inputs)
	case PhaseRoundOver:
		s.PhaseTicks--
		if s.PhaseTicks == 0 {
			if w := s.leader(); w >= 0 {
				s.Phase = PhaseMatchOver
				s.MatchWinner = int8(w)
			} else {
				s.startRound()
			}
		}
	case PhaseMatchOver:
	}
	for i := range s.Blasts {
		if s.Blasts[i].TTL > 0 {
			s.Blasts[i].TTL--
		}
	}
	for i := 0; i < int(s.NumPlayers); i++ {
		if s.Players[i].HitFlash > 0 {
			s.Players[i].HitFlash--
		}
	}
}

// leader returns the player who has won the match, or -1.
func (s *State) leader() int {
	for i := 0; i < int(s.NumPlayers); i++ {
		if s.Players[i].Wins >= WinRounds {
			return i
		}
	}
	return -1
}

func inputAt(inputs []Input, i int) Input {
	if i < len(inputs) {
		return inputs[i] & inputMask
	}
	return 0
}

func (s *State) turn(p *Player, in Input) {
	if in.Has(InputLeft) {
		p.Angle -= turnSpeed
	}
	if in.Has(InputRight) {
		p.Angle += turnSpeed
	}
}

func (s *State) play(inputs []Input) {
	n := int(s.NumPlayers)
	for i := 0; i < n; i++ {
		p := &s.Players[i]
		if !p.Alive {
			continue
		}
		in := inputAt(inputs, i)
		s.turn(p, in)
		s.move(p, in)
		if in.Has(InputFire) && p.FireCooldown == 0 {
			s.fire(i)
		}
		if p.FireCooldown > 0 {
			p.FireCooldown--
		}
		if p.DashCooldown > 0 {
			p.DashCooldown--
		}
		if p.RapidTicks > 0 {
			p.RapidTicks--
		}
	}
	s.separate()
	s.moveBullets()
	s.updatePickups()
	s.PhaseTicks--
	s.checkRoundEnd()
}

func (s *State) move(p *Player, in Input) {
	if in.Has(InputUp) {
		dx, dy := dir(p.Angle, thrust)
		p.VX += dx
		p.VY += dy
	}
	if in.Has(InputDown) {
		dx, dy := dir(p.Angle, thrust/2)
		p.VX -= dx
		p.VY -= dy
	}
	if in.Has(InputDash) && p.DashCooldown == 0 {
		dx, dy := dir(p.Angle, dashImpulse)
		p.VX += dx
		p.VY += dy
		p.DashCooldown = dashCooldown
	}
	// Friction: lose an eighth of the speed every frame, and stop outright
	// when slow, so that a tank comes to rest instead of creeping.
	p.VX -= p.VX / 8
	p.VY -= p.VY / 8
	if abs(p.VX) < 8 {
		p.VX = 0
	}
	if abs(p.VY) < 8 {
		p.VY = 0
	}
	p.VX = clamp(p.VX, -maxSpeed, maxSpeed)
	p.VY = clamp(p.VY, -maxSpeed, maxSpeed)
	p.X += p.VX
	p.Y += p.VY
	s.collideWalls(p)
}

// collideWalls pushes a tank out of the walls and the arena's edges. For
// walls the tank counts as a square, which keeps the rule exact and simple.
func (s *State) collideWalls(p *Player) {
	l := &s.Map
	for i := range l.WallList() {
		w := &l.Walls[i]
		x0, y0, x1, y1 := w.X0-TankRadius, w.Y0-TankRadius, w.X1+TankRadius, w.Y1+TankRadius
		if p.X <= x0 || p.X >= x1 || p.Y <= y0 || p.Y >= y1 {
			continue
		}
		// Leave along the axis of least penetration.
		left, right, up, down := p.X-x0, x1-p.X, p.Y-y0, y1-p.Y
		m := min(left, right, up, down)
		switch m {
		case left:
			p.X = x0
			p.VX = min(p.VX, 0)
		case right:
			p.X = x1
			p.VX = max(p.VX, 0)
		case up:
			p.Y = y0
			p.VY = min(p.VY, 0)
		default:
			p.Y = y1
			p.VY = max(p.VY, 0)
		}
	}
	if p.X < TankRadius {
		p.X, p.VX = TankRadius, 0
	}
	if p.X > l.Width-TankRadius {
		p.X, p.VX = l.Width-TankRadius, 0
	}
	if p.Y < TankRadius {
		p.Y, p.VY = TankRadius, 0
	}
	if p.Y > l.Height-TankRadius {
		p.Y, p.VY = l.Height-TankRadius, 0
	}
}

// separate pushes overlapping tanks apart, each by half the overlap.
func (s *State) separate() {
	n := int(s.NumPlayers)
	for i := 0; i < n; i++ {
		a := &s.Players[i]
		if !a.Alive {
			continue
		}
		for j := i + 1; j < n; j++ {
			b := &s.Players[j]
			if !b.Alive {
				continue
			}
			dx, dy := int64(b.X-a.X), int64(b.Y-a.Y)
			d2 := dx*dx + dy*dy
			const min = int64(2 * TankRadius)
			if d2 >= min*min {
				continue
			}
			d := isqrt(d2)
			if d == 0 {
				dx, dy, d = 1, 0, 1 // exactly on top: the lower index goes left
			}
			push := (min - d + 1) / 2
			px, py := Fixed(dx*push/d), Fixed(dy*push/d)
			a.X -= px
			a.Y -= py
			b.X += px
			b.Y += py
			s.collideWalls(a)
			s.collideWalls(b)
		}
	}
}

func (s *State) fire(i int) {
	p := &s.Players[i]
	if p.RapidTicks > 0 {
		p.FireCooldown = rapidCooldown
	} else {
		p.FireCooldown = fireCooldown
	}
	mx, my := dir(p.Angle, muzzle)
	x, y := p.X+mx, p.Y+my
	if s.Map.inWall(x, y, 0) {
		return // the muzzle is against a wall: the shot is smothered
	}
	for k := range s.Bullets {
		b := &s.Bullets[k]
		if b.TTL != 0 {
			continue
		}
		vx, vy := dir(p.Angle, bulletSpeed)
		*b = Bullet{X: x, Y: y, VX: vx, VY: vy, TTL: bulletLife, Owner: uint8(i), Bounces: bulletBounces}
		rx, ry := dir(p.Angle, recoil)
		p.VX -= rx
		p.VY -= ry
		return
	}
}

func (s *State) moveBullets() {
	for k := range s.Bullets {
		b := &s.Bullets[k]
		if b.TTL == 0 {
			continue
		}
		b.TTL--
		px, py := b.X, b.Y
		b.X += b.VX
		b.Y += b.VY
		if !s.bounce(b, px, py) {
			*b = Bullet{}
			continue
		}
		if b.TTL == 0 {
			*b = Bullet{}
			continue
		}
		s.hitTanks(b)
	}
}

// bounce reflects a bullet that left the arena or entered a wall, and
// reports whether it survives.
func (s *State) bounce(b *Bullet, px, py Fixed) bool {
	hitX, hitY := false, false
	if b.X < 0 || b.X >= s.Map.Width {
		hitX = true
	}
	if b.Y < 0 || b.Y >= s.Map.Height {
		hitY = true
	}
	if !hitX && !hitY {
		for i := range s.Map.WallList() {
			w := &s.Map.Walls[i]
			if !w.contains(b.X, b.Y) {
				continue
			}
			// Reflect on the side it came through: if it was already
			// within the wall's columns it came through the top or bottom.
			if px >= w.X0 && px < w.X1 {
				hitY = true
			} else if py >= w.Y0 && py < w.Y1 {
				hitX = true
			} else {
				hitX, hitY = true, true // a corner
			}
			break
		}
	}
	if !hitX && !hitY {
		return true
	}
	if b.Bounces == 0 {
		s.blast(b.X, b.Y, false)
		return false
	}
	b.Bounces--
	b.Bounced = true
	b.X, b.Y = px, py
	if hitX {
		b.VX = -b.VX
	}
	if hitY {
		b.VY = -b.VY
	}
	return true
}

func (s *State) hitTanks(b *Bullet) {
	const reach = int64(TankRadius + BulletRadius)
	for i := 0; i < int(s.NumPlayers); i++ {
		p := &s.Players[i]
		if !p.Alive || (i == int(b.Owner) && !b.Bounced) {
			continue
		}
		dx, dy := int64(b.X-p.X), int64(b.Y-p.Y)
		if dx*dx+dy*dy >= reach*reach {
			continue
		}
		owner := int(b.Owner)
		s.blast(b.X, b.Y, false)
		*b = Bullet{}
		p.HitFlash = hitFlashTicks
		if p.Shield {
			p.Shield = false
			return
		}
		p.HP--
		if p.HP <= 0 {
			p.HP = 0
			p.Alive = false
			p.VX, p.VY = 0, 0
			s.blast(p.X, p.Y, true)
			if owner != i && owner < int(s.NumPlayers) {
				s.Players[owner].Kills++
			}
		}
		return
	}
}

func (s *State) blast(x, y Fixed, big bool) {
	s.Blasts[s.NextBlast] = Blast{X: x, Y: y, TTL: blastTicks, Big: big}
	s.NextBlast = (s.NextBlast + 1) % MaxBlasts
}

func (s *State) updatePickups() {
	if s.PickupTimer > 0 {
		s.PickupTimer--
	}
	if s.PickupTimer == 0 {
		s.PickupTimer = pickupInterval
		s.spawnPickup()
	}
	const reach = int64(TankRadius + PickupRadius)
	for k := range s.Pickups {
		pk := &s.Pickups[k]
		if pk.Kind == PickupNone {
			continue
		}
		for i := 0; i < int(s.NumPlayers); i++ {
			p := &s.Players[i]
			if !p.Alive {
				continue
			}
			dx, dy := int64(pk.X-p.X), int64(pk.Y-p.Y)
			if dx*dx+dy*dy >= reach*reach {
				continue
			}
			switch pk.Kind {
			case PickupHealth:
				p.HP = min(p.HP+1, MaxHP)
			case PickupShield:
				p.Shield = true
			case PickupRapid:
				p.RapidTicks = rapidTicks
			}
			*pk = Pickup{}
			break
		}
	}
}

func (s *State) spawnPickup() {
	slot := -1
	for k := range s.Pickups {
		if s.Pickups[k].Kind == PickupNone {
			slot = k
			break
		}
	}
	if slot < 0 {
		return
	}
	r := s.rand()
	spots := s.Map.SpotList()
	spot := int(r % uint64(len(spots)))
	for tries := 0; tries < len(spots); tries++ {
		x, y := spots[spot].X, spots[spot].Y
		free := true
		for k := range s.Pickups {
			if s.Pickups[k].Kind != PickupNone && s.Pickups[k].X == x && s.Pickups[k].Y == y {
				free = false
			}
		}
		if free {
			kind := PickupKind(1 + (r>>32)%uint64(pickupKinds-1))
			s.Pickups[slot] = Pickup{X: x, Y: y, Kind: kind}
			return
		}
		spot = (spot + 1) % len(spots)
	}
}

func (s *State) checkRoundEnd() {
	n := int(s.NumPlayers)
	alive, last := 0, -1
	for i := 0; i < n; i++ {
		if s.Players[i].Alive {
			alive++
			last = i
		}
	}
	winner := -2 // round goes on
	switch {
	case alive <= 1:
		winner = last // -1 when the last tanks died together
	case s.PhaseTicks == 0:
		// Time is up: the healthiest tank wins, a tie is a draw.
		best, bestHP := -1, int8(-1)
		for i := 0; i < n; i++ {
			p := &s.Players[i]
			if !p.Alive {
				continue
			}
			if p.HP > bestHP {
				best, bestHP = i, p.HP
			} else if p.HP == bestHP {
				best = -1
			}
		}
		winner = best
	}
	if winner == -2 {
		return
	}
	if winner >= 0 {
		s.Players[winner].Wins++
	}
	s.RoundWinner = int8(winner)
	s.Phase = PhaseRoundOver
	s.PhaseTicks = roundOverTicks
}
