package arena

// The arena's size and the tuning of the rules. Times are in frames at
// TickRate frames per second. Changing any of them changes the game, and so
// the checksums pinned by the tests.
const (
	// TickRate is the number of Step calls per second of play.
	TickRate = 60

	// Width and Height are the arena's size.
	Width  = 960 * One
	Height = 640 * One

	// MinPlayers and MaxPlayers bound the number of players in a match.
	MinPlayers = 2
	MaxPlayers = 4

	// MaxBullets is the number of bullets in flight at once; a shot fired
	// when all are in flight is lost.
	MaxBullets = 48
	// MaxPickups is the number of pickups on the ground at once.
	MaxPickups = 2
	// MaxBlasts is the number of explosion effects remembered for drawing.
	MaxBlasts = 8

	// TankRadius is the radius of a tank.
	TankRadius = 14 * One
	// BulletRadius is the radius of a bullet.
	BulletRadius = 3 * One
	// PickupRadius is the radius of a pickup.
	PickupRadius = 10 * One

	// MaxHP is a tank's health at the start of a round; a bullet takes one.
	MaxHP = 3
	// WinRounds is the number of round wins that wins the match.
	WinRounds = 3

	turnSpeed      = 4                  // Angle units per frame (a full turn in ~1 s)
	thrust         = Fixed(96)          // acceleration per frame when thrusting
	maxSpeed       = 12 * One           // a cap on speed, reached only by dashing
	dashImpulse    = 7 * One            // velocity added by a dash
	dashCooldown   = 90                 // frames between dashes
	bulletSpeed    = 7 * One            // per frame
	bulletLife     = 100                // frames
	bulletBounces  = 1                  // wall bounces before a bullet dies
	fireCooldown   = 20                 // frames between shots
	rapidCooldown  = 8                  // frames between shots with rapid fire
	rapidTicks     = 5 * TickRate       // duration of rapid fire
	recoil         = Fixed(80)          // velocity lost by firing
	hitFlashTicks  = 12                 // frames a hit tank flashes
	blastTicks     = 30                 // frames an explosion is drawn
	countdownTicks = 90                 // frames before a round starts
	roundTicks     = 60 * TickRate      // the longest a round lasts
	roundOverTicks = 2 * TickRate       // the pause after a round
	firstPickup    = 3 * TickRate       // frames before the first pickup of a round
	pickupInterval = 5 * TickRate       // frames between pickups
	maxVelocity    = 64 * One           // the largest velocity a valid state holds
	muzzle         = TankRadius + 6*One // where bullets appear, from the tank's centre
)

// Rect is an axis-aligned wall: X0 <= x < X1, Y0 <= y < Y1.
type Rect struct{ X0, Y0, X1, Y1 Fixed }

func rect(x0, y0, x1, y1 int) Rect { return Rect{Px(x0), Px(y0), Px(x1), Px(y1)} }

func (r Rect) contains(x, y Fixed) bool { return x >= r.X0 && x < r.X1 && y >= r.Y0 && y < r.Y1 }

// Walls are the arena's obstacles, symmetric under a half turn so that every
// spawn corner is as good as every other.
var Walls = [...]Rect{
	rect(440, 270, 520, 370), // centre block
	rect(160, 150, 320, 174), // upper left bar
	rect(640, 150, 800, 174), // upper right bar
	rect(160, 466, 320, 490), // lower left bar
	rect(640, 466, 800, 490), // lower right bar
	rect(100, 260, 124, 380), // left post
	rect(836, 260, 860, 380), // right post
	rect(468, 40, 492, 120),  // top stub
	rect(468, 520, 492, 600), // bottom stub
}

// spawns are the start positions, in the order players take them: player 0
// and 1 face each other across the arena's diagonal.
var spawns = [MaxPlayers][2]Fixed{
	{Px(60), Px(60)},
	{Px(900), Px(580)},
	{Px(900), Px(60)},
	{Px(60), Px(580)},
}

// pickupSpots are where pickups may appear.
var pickupSpots = [...][2]Fixed{
	{Px(480), Px(200)},
	{Px(480), Px(440)},
	{Px(240), Px(320)},
	{Px(720), Px(320)},
	{Px(380), Px(80)},
	{Px(580), Px(560)},
}
