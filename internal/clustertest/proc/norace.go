//go:build !race

package proc

// raceEnabled is set when the test binary runs under the race detector.
const raceEnabled = false
