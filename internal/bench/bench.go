// Package bench is `nagare bench`: it measures a running origin (and, side by side, peers such as
// nginx-rtmp) for docs/benchmarks.md.
package bench

import (
	"context"
	"fmt"
	"io"
)

// Main runs `nagare bench` and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_ = ctx
	fmt.Fprintln(stderr, "nagare bench: not built yet")
	return 2
}
