package arena

import "testing"

// duel returns a two-player state in play with the tanks placed in the open
// corridor at y=230 that no wall crosses.
func duel(x0 int, a0 Angle, x1 int, a1 Angle) *State {
	s := New(2, 1)
	s.Phase, s.PhaseTicks = PhasePlay, roundTicks
	s.PickupTimer = 60000 // no pickups unless a test wants them
	s.Players[0].X, s.Players[0].Y, s.Players[0].Angle = Px(x0), Px(230), a0
	s.Players[1].X, s.Players[1].Y, s.Players[1].Angle = Px(x1), Px(230), a1
	return s
}

func stepN(s *State, n int, in ...Input) {
	for range n {
		s.Step(in)
	}
}

func TestBulletHitsAndKills(t *testing.T) {
	s := duel(200, 0, 400, 128)
	firstHit := 0
	for f := 1; f <= 300 && s.Phase == PhasePlay; f++ {
		s.Step([]Input{InputFire, 0})
		if firstHit == 0 && s.Players[1].HP < MaxHP {
			firstHit = f
			if s.Players[1].HP != MaxHP-1 || s.Players[1].HitFlash == 0 {
				t.Fatalf("after the first hit: hp %d flash %d", s.Players[1].HP, s.Players[1].HitFlash)
			}
		}
	}
	// The bullet starts 20 px ahead and must cover ~163 px at 7 px a frame.
	if firstHit < 20 || firstHit > 30 {
		t.Errorf("first hit at frame %d, want about 24", firstHit)
	}
	p0, p1 := s.Players[0], s.Players[1]
	if p1.Alive || p1.HP != 0 || !p0.Alive || p0.HP != MaxHP {
		t.Fatalf("after the duel: p0 %+v, p1 %+v", p0, p1)
	}
	if s.Phase != PhaseRoundOver || s.RoundWinner != 0 || p0.Wins != 1 || p0.Kills != 1 || p1.Wins != 0 {
		t.Fatalf("phase %v, round winner %d, wins %d/%d, kills %d", s.Phase, s.RoundWinner, p0.Wins, p1.Wins, p0.Kills)
	}
	if !hasBlast(s, true) {
		t.Error("no big blast where the tank died")
	}
}

func hasBlast(s *State, big bool) bool {
	for _, b := range s.Blasts {
		if b.TTL > 0 && b.Big == big {
			return true
		}
	}
	return false
}

func TestShieldAbsorbsOneHit(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.Players[1].Shield = true
	s.Step([]Input{InputFire, 0})
	stepN(s, 40)
	if p := s.Players[1]; p.HP != MaxHP || p.Shield {
		t.Fatalf("after a shielded hit: hp %d shield %v", p.HP, p.Shield)
	}
	s.Players[0].FireCooldown = 0
	s.Step([]Input{InputFire, 0})
	stepN(s, 40)
	if p := s.Players[1]; p.HP != MaxHP-1 {
		t.Fatalf("after an unshielded hit: hp %d", p.HP)
	}
}

func TestBulletBouncesAndCanHitItsOwner(t *testing.T) {
	s := duel(880, 0, 60, 0)
	s.Players[1].Y = Px(580)
	s.Step([]Input{InputFire})
	b := &s.Bullets[0]
	if b.TTL == 0 || b.Owner != 0 || b.VX <= 0 || b.Bounced {
		t.Fatalf("bullet after firing: %+v", *b)
	}
	stepN(s, 8)
	if b.TTL == 0 || !b.Bounced || b.VX >= 0 || b.Bounces != 0 {
		t.Fatalf("bullet after reaching the wall: %+v", *b)
	}
	stepN(s, 20)
	if s.Players[0].HP != MaxHP-1 {
		t.Fatalf("a bounced bullet did not hit its owner: hp %d, bullet %+v", s.Players[0].HP, *b)
	}
}

func TestBulletDiesOnItsLastBounce(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.Bullets[5] = Bullet{X: Px(470), Y: Px(260), VX: 0, VY: 7 * One, TTL: 50, Owner: 1}
	s.Step(nil)
	s.Step(nil)
	if s.Bullets[5].TTL != 0 {
		t.Fatalf("bullet with no bounces left survived a wall: %+v", s.Bullets[5])
	}
	if !hasBlast(s, false) {
		t.Error("no small blast where the bullet died")
	}
}

func TestBulletExpires(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.Bullets[0] = Bullet{X: Px(300), Y: Px(600), VX: One, TTL: 3, Owner: 1}
	stepN(s, 2)
	if s.Bullets[0].TTL != 1 {
		t.Fatalf("ttl %d", s.Bullets[0].TTL)
	}
	s.Step(nil)
	if s.Bullets[0] != (Bullet{}) {
		t.Fatalf("expired bullet not cleared: %+v", s.Bullets[0])
	}
}

func TestWallsBlockTanks(t *testing.T) {
	s := duel(480, 64, 60, 0) // facing down at the centre block (y 270)
	s.Players[1].Y = Px(580)
	stepN(s, 120, InputUp)
	p := s.Players[0]
	if p.Y > Px(270)-TankRadius || p.Y < Px(240) || p.X != Px(480) {
		t.Fatalf("tank against the centre block at (%v, %v)", p.X.Float(), p.Y.Float())
	}
	// And the arena's edge.
	s = duel(600, 0, 60, 0)
	s.Players[1].Y = Px(580)
	stepN(s, 400, InputUp)
	if p := s.Players[0]; p.X != Width-TankRadius {
		t.Fatalf("tank at the right edge at x %v", p.X.Float())
	}
}

func TestMovementAndDash(t *testing.T) {
	s := duel(200, 0, 60, 0)
	s.Players[1].Y = Px(580)
	stepN(s, 30, InputUp)
	walked := s.Players[0].X - Px(200)
	if walked < Px(50) || walked > Px(100) {
		t.Fatalf("30 frames of thrust moved %v px", walked.Float())
	}
	s = duel(200, 0, 60, 0)
	s.Players[1].Y = Px(580)
	stepN(s, 30, InputUp|InputDash)
	dashed := s.Players[0].X - Px(200)
	if dashed < walked+Px(30) || s.Players[0].DashCooldown == 0 {
		t.Fatalf("dash moved %v px vs %v px without; cooldown %d", dashed.Float(), walked.Float(), s.Players[0].DashCooldown)
	}
	// Friction brings a tank to rest.
	stepN(s, 120)
	if s.Players[0].VX != 0 || s.Players[0].VY != 0 {
		t.Fatalf("tank still moving: %v, %v", s.Players[0].VX, s.Players[0].VY)
	}
}

func countBullets(s *State) int {
	n := 0
	for _, b := range s.Bullets {
		if b.TTL > 0 {
			n++
		}
	}
	return n
}

func TestFireRate(t *testing.T) {
	s := duel(60, 0, 60, 0)
	s.Players[1].Y = Px(580)
	stepN(s, 60, InputFire)
	if n := countBullets(s); n != 3 {
		t.Fatalf("60 frames of fire shot %d bullets, want 3", n)
	}
	s = duel(60, 0, 60, 0)
	s.Players[1].Y = Px(580)
	s.Players[0].RapidTicks = rapidTicks
	stepN(s, 60, InputFire)
	if n := countBullets(s); n != 8 {
		t.Fatalf("60 frames of rapid fire shot %d bullets, want 8", n)
	}
}

func TestRoundTimeout(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.PhaseTicks = 1
	s.Players[1].HP = 2
	s.Step(nil)
	if s.Phase != PhaseRoundOver || s.RoundWinner != 0 || s.Players[0].Wins != 1 {
		t.Fatalf("timeout: phase %v winner %d wins %d", s.Phase, s.RoundWinner, s.Players[0].Wins)
	}
	s = duel(200, 0, 400, 128)
	s.PhaseTicks = 1
	s.Step(nil)
	if s.Phase != PhaseRoundOver || s.RoundWinner != -1 || s.Players[0].Wins+s.Players[1].Wins != 0 {
		t.Fatalf("tied timeout: phase %v winner %d", s.Phase, s.RoundWinner)
	}
}

func TestDrawWhenLastTanksDieTogether(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.Players[0].HP, s.Players[1].HP = 1, 1
	s.Step([]Input{InputFire, InputFire})
	stepN(s, 40)
	if s.Alive() != 0 || s.Phase != PhaseRoundOver || s.RoundWinner != -1 {
		t.Fatalf("alive %d phase %v winner %d", s.Alive(), s.Phase, s.RoundWinner)
	}
}

func TestRoundsAndMatchOver(t *testing.T) {
	s := duel(200, 0, 400, 128)
	s.Players[1].HP = 1
	s.Step([]Input{InputFire})
	stepN(s, 40)
	if s.Phase != PhaseRoundOver {
		t.Fatalf("phase %v", s.Phase)
	}
	stepN(s, roundOverTicks)
	if s.Phase != PhaseCountdown || s.Round != 2 || s.Players[1].HP != MaxHP || !s.Players[1].Alive || s.Players[0].Wins != 1 || s.Players[0].Kills != 1 {
		t.Fatalf("next round: phase %v round %d p1 %+v p0 wins %d", s.Phase, s.Round, s.Players[1], s.Players[0].Wins)
	}
	// Countdown: tanks turn but neither move nor fire.
	x, a := s.Players[0].X, s.Players[0].Angle
	s.Step([]Input{InputUp | InputFire | InputRight})
	if s.Players[0].X != x || s.Players[0].Angle != a+turnSpeed || countBullets(s) != 0 {
		t.Fatal("a tank moved or fired during the countdown")
	}
	stepN(s, countdownTicks)
	if s.Phase != PhasePlay {
		t.Fatalf("phase after countdown %v", s.Phase)
	}

	// Winning the last round ends the match.
	s = duel(200, 0, 400, 128)
	s.Players[0].Wins = WinRounds - 1
	s.Players[1].HP = 1
	s.Step([]Input{InputFire})
	stepN(s, 40+roundOverTicks)
	if s.Phase != PhaseMatchOver || s.MatchWinner != 0 {
		t.Fatalf("phase %v match winner %d", s.Phase, s.MatchWinner)
	}
	before := *s
	stepN(s, 100, InputUp|InputFire)
	before.Frame = s.Frame
	if *s != before {
		t.Fatal("the state changed after the match ended")
	}
}

func TestPickups(t *testing.T) {
	for _, tc := range []struct {
		kind  PickupKind
		check func(p Player) bool
	}{
		{PickupHealth, func(p Player) bool { return p.HP == 2 }},
		{PickupShield, func(p Player) bool { return p.Shield }},
		{PickupRapid, func(p Player) bool { return p.RapidTicks > 0 }},
	} {
		s := duel(200, 0, 400, 128)
		s.Players[0].HP = 1
		s.Pickups[1] = Pickup{X: Px(210), Y: Px(230), Kind: tc.kind}
		s.Step(nil)
		if !tc.check(s.Players[0]) || s.Pickups[1].Kind != PickupNone {
			t.Errorf("pickup %d: player %+v, pickup %+v", tc.kind, s.Players[0], s.Pickups[1])
		}
	}
	// Health never goes above MaxHP.
	s := duel(200, 0, 400, 128)
	s.Pickups[0] = Pickup{X: Px(200), Y: Px(230), Kind: PickupHealth}
	s.Step(nil)
	if s.Players[0].HP != MaxHP {
		t.Errorf("hp %d after health at full health", s.Players[0].HP)
	}
}

func TestPickupsSpawn(t *testing.T) {
	s := New(2, 99)
	stepN(s, countdownTicks+firstPickup)
	n := 0
	for _, pk := range s.Pickups {
		if pk.Kind == PickupNone {
			continue
		}
		n++
		found := false
		for _, spot := range pickupSpots {
			found = found || (spot[0] == pk.X && spot[1] == pk.Y)
		}
		if !found {
			t.Errorf("pickup at (%v, %v) is not a spawn spot", pk.X.Float(), pk.Y.Float())
		}
	}
	if n != 1 {
		t.Fatalf("%d pickups after the first interval, want 1", n)
	}
	stepN(s, pickupInterval*3)
	n = 0
	for _, pk := range s.Pickups {
		if pk.Kind != PickupNone {
			n++
		}
	}
	if n != MaxPickups {
		t.Fatalf("%d pickups after idle intervals, want %d", n, MaxPickups)
	}
}

func TestTanksDoNotOverlap(t *testing.T) {
	s := duel(300, 0, 360, 128)
	stepN(s, 120, InputUp, InputUp)
	dx, dy := int64(s.Players[1].X-s.Players[0].X), int64(s.Players[1].Y-s.Players[0].Y)
	if d := isqrt(dx*dx + dy*dy); d < int64(2*TankRadius-One) {
		t.Fatalf("tanks overlap: distance %v px", Fixed(d).Float())
	}
}

func TestBotBeatsIdlePlayer(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		s := New(2, seed)
		for s.Phase != PhaseMatchOver && s.Frame < 3*60*TickRate {
			s.Step([]Input{BotInput(s, 0), 0})
		}
		if s.MatchWinner != 0 || s.Players[1].Wins != 0 {
			t.Fatalf("seed %d: bot vs idle: winner %d after %d frames, wins %d/%d", seed, s.MatchWinner, s.Frame, s.Players[0].Wins, s.Players[1].Wins)
		}
	}
}

func TestBotsFinishMatches(t *testing.T) {
	for n := MinPlayers; n <= MaxPlayers; n++ {
		for seed := uint64(1); seed <= 3; seed++ {
			s := New(n, seed)
			in := make([]Input, n)
			for s.Phase != PhaseMatchOver && s.Frame < 10*60*TickRate {
				for i := range in {
					in[i] = BotInput(s, i)
				}
				s.Step(in)
			}
			if s.Phase != PhaseMatchOver {
				t.Errorf("%d bots, seed %d: no winner after 10 minutes", n, seed)
			}
			shots := 0
			for i := 0; i < n; i++ {
				shots += int(s.Players[i].Kills)
			}
			if shots == 0 {
				t.Errorf("%d bots, seed %d: no kills at all", n, seed)
			}
		}
	}
}

// TestBotBeatsMasher checks that the bot beats a player mashing random keys
// in most matches.
func TestBotBeatsMasher(t *testing.T) {
	wins := 0
	const matches = 10
	for seed := uint64(1); seed <= matches; seed++ {
		s := New(2, seed)
		x := seed * 0x9e3779b97f4a7c15
		var mash Input
		for s.Phase != PhaseMatchOver && s.Frame < 10*60*TickRate {
			if s.Frame%10 == 0 { // a new random key combination every 10 frames
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				mash = Input(x) & inputMask
			}
			s.Step([]Input{BotInput(s, 0), mash})
		}
		if s.MatchWinner == 0 {
			wins++
		}
	}
	if wins < matches*8/10 {
		t.Fatalf("the bot won %d of %d matches against random keys", wins, matches)
	}
	t.Logf("the bot won %d of %d", wins, matches)
}
