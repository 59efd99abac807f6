package arena

// BotInput returns the input a computer player would give for player in the
// state s. It is a pure function of the state: every peer that computes it
// for the same state gets the same input, so a bot can run on any peer (or
// on all of them) without desyncing. It returns 0 for a player that is not
// in the match or not alive.
//
// The bot aims where its nearest enemy will be when the bullet arrives,
// shoots when it has a clear line, keeps a middle distance, picks up items
// when hurt or when they are close, dodges incoming bullets with a dash and
// steers around walls.
func BotInput(s *State, player int) Input {
	if player < 0 || player >= int(s.NumPlayers) {
		return 0
	}
	me := &s.Players[player]
	if !me.Alive || s.Phase == PhaseRoundOver || s.Phase == PhaseMatchOver {
		return 0
	}
	target, dist := s.nearestEnemy(player)
	if target < 0 {
		return 0
	}
	t := &s.Players[target]

	// Lead the target: aim at where it will be after the bullet's flight.
	flight := Fixed(dist / int64(bulletSpeed))
	aimX, aimY := t.X+t.VX*flight, t.Y+t.VY*flight
	aim := AngleTo(aimX-me.X, aimY-me.Y)
	// A human-like wobble of up to ±3/256 of a turn (±4°), drifting every
	// quarter second: deadly up close, fallible at range, so that a round
	// lasts and a person can win.
	aim += Angle(int8((s.Frame/15+uint32(player)*5)%7) - 3)

	if s.Phase == PhaseCountdown {
		return steer(me.Angle, aim, 2)
	}

	var in Input
	// Where to go: a nearby pickup when worth it, else the enemy.
	goalX, goalY, goalDist := t.X, t.Y, dist
	chasing := false
	for k := range s.Pickups {
		pk := &s.Pickups[k]
		if pk.Kind == PickupNone || (pk.Kind == PickupHealth && me.HP == MaxHP) ||
			(pk.Kind == PickupShield && me.Shield) {
			continue
		}
		d := dist2(pk.X-me.X, pk.Y-me.Y)
		limit := int64(160 * One)
		if me.HP < MaxHP {
			limit = 400 * int64(One)
		}
		if d < limit*limit && isqrt(d) < goalDist {
			goalX, goalY, goalDist = pk.X, pk.Y, isqrt(d)
			chasing = true
		}
	}

	clear := s.Map.lineOfSight(me.X, me.Y, t.X, t.Y)
	threat, threatAngle := s.threatened(player)
	// A slow cycle of moods, offset per player: aim and shoot, or circle
	// the target one way or the other while shooting when lined up.
	mood := (s.Frame/45 + uint32(player)*7) % 4
	heading, drive := aim, false
	switch {
	case chasing || !clear:
		heading, drive = AngleTo(goalX-me.X, goalY-me.Y), true
	case threat:
		// Turn broadside to the bullet and drive out of its way.
		heading, drive = threatAngle+64, true
		if int8(me.Angle-heading) > 0 {
			heading = threatAngle - 64
		}
	case dist > int64(320*One):
		drive = true
	case dist < int64(140*One):
		in |= InputDown
	case mood == 1:
		heading, drive = aim+56, true
	case mood == 3:
		heading, drive = aim-56, true
	}
	// Steer around walls: if the way ahead is blocked, pick the freer side.
	// The preference alternates every few seconds so that two bots never
	// lock into the same dance.
	if drive && s.Map.blocked(me.X, me.Y, heading, 40*One) {
		left, right := !s.Map.blocked(me.X, me.Y, heading-48, 48*One), !s.Map.blocked(me.X, me.Y, heading+48, 48*One)
		preferLeft := (uint32(player)+s.Frame/180)%2 == 0
		switch {
		case left && (preferLeft || !right):
			heading -= 48
		case right:
			heading += 48
		default:
			heading += 128
		}
	}
	in |= steer(me.Angle, heading, 3)
	diff := int(int8(me.Angle - heading))
	if diff < 0 {
		diff = -diff
	}
	if drive && diff < 40 && !s.Map.blocked(me.X, me.Y, me.Angle, 30*One) {
		in |= InputUp
		// Dash out of a bullet's way once lined up across it.
		if threat && diff < 16 && me.DashCooldown == 0 {
			in |= InputDash
		}
	}

	// Shoot when lined up with a clear line.
	aimErr := int(int8(me.Angle - aim))
	if aimErr < 0 {
		aimErr = -aimErr
	}
	if clear && aimErr <= 5 && dist < int64(600*One) {
		in |= InputFire
	}
	return in
}

// steer returns the turn that brings from toward to, with a dead zone.
func steer(from, to Angle, dead int8) Input {
	d := int8(to - from)
	switch {
	case d > dead:
		return InputRight
	case d < -dead:
		return InputLeft
	}
	return 0
}

func dist2(dx, dy Fixed) int64 { return int64(dx)*int64(dx) + int64(dy)*int64(dy) }

func (s *State) nearestEnemy(player int) (int, int64) {
	me := &s.Players[player]
	best, bestD := -1, int64(0)
	for i := 0; i < int(s.NumPlayers); i++ {
		p := &s.Players[i]
		if i == player || !p.Alive {
			continue
		}
		d := dist2(p.X-me.X, p.Y-me.Y)
		if best < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	return best, isqrt(bestD)
}

// lineOfSight reports whether a bullet could fly straight between the points
// without touching a wall, sampling every 6 pixels.
func (l *Layout) lineOfSight(x0, y0, x1, y1 Fixed) bool {
	dx, dy := int64(x1-x0), int64(y1-y0)
	n := isqrt(dx*dx+dy*dy)/int64(6*One) + 1
	for k := int64(1); k < n; k++ {
		if l.inWall(x0+Fixed(dx*k/n), y0+Fixed(dy*k/n), BulletRadius) {
			return false
		}
	}
	return true
}

// blocked reports whether a tank at (x, y) would hit a wall within reach
// along a.
func (l *Layout) blocked(x, y Fixed, a Angle, reach Fixed) bool {
	for _, f := range [...]Fixed{reach / 2, reach} {
		dx, dy := dir(a, TankRadius+f)
		if l.inWall(x+dx, y+dy, TankRadius/2) {
			return true
		}
	}
	return false
}

// threatened reports whether a bullet will pass within reach of the player
// in the next 20 frames, and the direction that bullet flies.
func (s *State) threatened(player int) (bool, Angle) {
	me := &s.Players[player]
	const reach = int64(TankRadius + 6*One)
	for k := range s.Bullets {
		b := &s.Bullets[k]
		if b.TTL == 0 || (int(b.Owner) == player && !b.Bounced) {
			continue
		}
		rx, ry := int64(me.X-b.X), int64(me.Y-b.Y)
		vx, vy := int64(b.VX), int64(b.VY)
		v2 := vx*vx + vy*vy
		if v2 == 0 {
			continue
		}
		// Time of closest approach, in frames, must be soon and ahead.
		dot := rx*vx + ry*vy
		if dot <= 0 || dot > 20*v2 {
			continue
		}
		// Squared distance at closest approach: |r|² - dot²/|v|².
		closest := rx*rx + ry*ry - (dot/v2)*dot
		if closest < reach*reach {
			return true, AngleTo(b.VX, b.VY)
		}
	}
	return false, 0
}
