//go:build !race

package matchmaker

const raceEnabled = false
