// Command nagare runs every part of the nagare streaming platform; see `nagare help`.
package main

import (
	"os"

	"github.com/nagare-video/nagare/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
