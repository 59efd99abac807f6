//go:build race

package matchmaker

// raceEnabled: the race detector doubles what each allocation takes.
const raceEnabled = true
