//go:build !unix

package netguard

import "log/slog"

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseFileLimit(*slog.Logger) {}
