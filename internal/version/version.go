// Package version holds the version of the nagare binary, set at build time with
// -ldflags "-X github.com/nagare-video/nagare/internal/version.Version=…".
package version

// Version is the release version, or "dev" for a local build.
var Version = "dev"
