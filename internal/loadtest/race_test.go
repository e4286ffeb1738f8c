//go:build race

package loadtest

// raceEnabled: the race detector's instrumentation allocates now and then, so allocation counts are not
// checked under it.
const raceEnabled = true
