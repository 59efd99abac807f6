package arena

import (
	"math"
	"testing"
)

func TestSineTable(t *testing.T) {
	for a := 0; a < 256; a++ {
		want := math.Sin(float64(a) * 2 * math.Pi / 256)
		got := float64(isin(Angle(a))) / trigOne
		if math.Abs(got-want) > 1.0/trigOne {
			t.Errorf("isin(%d) = %v, want %v", a, got, want)
		}
		gotc := float64(icos(Angle(a))) / trigOne
		if wantc := math.Cos(float64(a) * 2 * math.Pi / 256); math.Abs(gotc-wantc) > 1.0/trigOne {
			t.Errorf("icos(%d) = %v, want %v", a, gotc, wantc)
		}
	}
}

func TestIsqrt(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 40, 1<<62 - 1, 123456789} {
		r := isqrt(n)
		if r*r > n || (r+1)*(r+1) <= n {
			t.Errorf("isqrt(%d) = %d", n, r)
		}
	}
}

func TestAngleTo(t *testing.T) {
	for a := 0; a < 256; a++ {
		dx, dy := dir(Angle(a), 500*One)
		if got := AngleTo(dx, dy); got != Angle(a) {
			t.Errorf("AngleTo(dir(%d)) = %d", a, got)
		}
	}
	if AngleTo(0, 0) != 0 {
		t.Error("AngleTo(0, 0) != 0")
	}
}

func TestInputString(t *testing.T) {
	if got := (InputUp | InputFire).String(); got != "U...F." {
		t.Errorf("String = %q", got)
	}
	if !(InputUp | InputDash).Has(InputDash) || InputUp.Has(InputUp|InputDown) {
		t.Error("Has is wrong")
	}
}

func TestNewPanicsOnBadPlayerCount(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 5} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", n)
				}
			}()
			New(n, 1)
		}()
	}
}

func TestNewStartsCountdown(t *testing.T) {
	def := DefaultLayout()
	if err := def.Validate(); err != nil {
		t.Fatalf("the default layout: %v", err)
	}
	for n := MinPlayers; n <= MaxPlayers; n++ {
		s := New(n, 7)
		if s.Phase != PhaseCountdown || s.Round != 1 || s.MatchWinner != -1 || s.Alive() != n {
			t.Fatalf("New(%d): phase %v round %d winner %d alive %d", n, s.Phase, s.Round, s.MatchWinner, s.Alive())
		}
		for i := 0; i < n; i++ {
			if def.inWall(s.Players[i].X, s.Players[i].Y, TankRadius) {
				t.Errorf("player %d spawns in a wall", i)
			}
		}
	}
	for _, spot := range pickupSpots {
		if def.inWall(spot[0], spot[1], PickupRadius) {
			t.Errorf("pickup spot %v is in a wall", spot)
		}
	}
}
