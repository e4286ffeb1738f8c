//go:build unix

package netguard

import (
	"log/slog"
	"syscall"
)

// RaiseFileLimit raises the soft limit on open files to the hard limit: every connection is a descriptor,
// and a node runs out of them long before it runs out of anything else. (Go's runtime raises it to one
// below the hard limit at start and gives child processes the original back; after this call children
// inherit the raised limit too.)
func RaiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("reading the open files limit", "cause", err)
		return
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("raising the open files limit", "soft", lim.Cur, "hard", lim.Max, "cause", err)
			return
		}
		lim = want
	}
	log.Debug("open files limit", "soft", lim.Cur, "hard", lim.Max)
}
