//go:build race

package shard

// raceEnabled is set under the race detector, which slows tests about
// tenfold: the heavier ones shrink.
const raceEnabled = true
