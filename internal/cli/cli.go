// Package cli implements the nagare subcommands.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/bench"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/version"
)

const usage = `nagare: self-hosted live streaming that scales itself

Usage:
  nagare node   [flags]   run a media node (origin)
  nagare all    [flags]   run everything on this machine with embedded defaults
  nagare token  [flags]   sign a publish token
  nagare bench  [flags]   measure a node (and peers) under load; see 'nagare bench -h'
  nagare version          print the version

Run 'nagare <command> -h' for the flags of a command.
`

// Main runs the command in args (without the program name) and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "node":
		err = runNode(ctx, args[1:], stdout, stderr, false)
	case "all":
		err = runNode(ctx, args[1:], stdout, stderr, true)
	case "token":
		err = runToken(args[1:], stdout, stderr)
	case "bench":
		return bench.Main(ctx, args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "nagare", version.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "nagare: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "nagare:", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer, all bool) error {
	name := "node"
	if all {
		name = "all"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("NAGARE_CONFIG"), "YAML configuration file (env NAGARE_CONFIG)")
	role := fs.String("role", "", "node role: origin (relay, edge and transcoder come later)")
	rtmp := fs.String("rtmp", "", "RTMP listen address (overrides rtmp.address)")
	srt := fs.String("srt", "", "SRT listen address (overrides srt.address)")
	httpAddr := fs.String("http", "", "HTTP (HLS, metrics, stats) listen address (overrides http.address)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	for _, o := range []struct{ flag, dst *string }{{role, &cfg.Node.Role}, {rtmp, &cfg.RTMP.Address}, {srt, &cfg.SRT.Address}, {httpAddr, &cfg.HTTP.Address}} {
		if *o.flag != "" {
			*o.dst = *o.flag
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(cfg.Log, stderr)
	generated := false
	if all && cfg.Publish.TokenSecret == "" && len(cfg.Publish.Keys) == 0 && !cfg.Publish.AllowUnauthenticated {
		cfg.Publish.TokenSecret = randomSecret()
		generated = true
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if all {
		printWelcome(stdout, n, cfg, generated)
	}
	return n.Run(ctx)
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// printWelcome tells the operator where to publish and play. The token secret itself is never printed;
// only a token for one stream, as a publisher would be handed.
func printWelcome(w io.Writer, n *node.Node, cfg config.Config, generated bool) {
	host := func(addr string) string {
		h, p, _ := net.SplitHostPort(addr)
		if h == "" || h == "::" || h == "0.0.0.0" {
			h = "127.0.0.1"
		}
		return net.JoinHostPort(h, p)
	}
	p := stream.Path{App: "live", Name: "demo"}
	cred := ""
	if cfg.Publish.TokenSecret != "" {
		cred = "?token=" + pubauth.Sign([]byte(cfg.Publish.TokenSecret), p, time.Now().Add(24*time.Hour))
	}
	fmt.Fprintln(w, "nagare is running.")
	if generated {
		fmt.Fprintln(w, "  A publish token secret was generated for this run (set publish.tokenSecret to keep one).")
	}
	if n.RTMPAddr() != "" {
		fmt.Fprintf(w, "  publish (RTMP): rtmp://%s/%s%s\n", host(n.RTMPAddr()), p, cred)
	}
	if n.SRTAddr() != "" {
		fmt.Fprintf(w, "  publish (SRT):  srt://%s?streamid=publish:%s%s\n", host(n.SRTAddr()), p, cred)
	}
	if n.HTTPAddr() != "" {
		fmt.Fprintf(w, "  play (HLS):     http://%s/%s/index.m3u8\n", host(n.HTTPAddr()), p)
		fmt.Fprintf(w, "  stats:          http://%s/api/v1/stats   metrics: http://%s/metrics\n", host(n.HTTPAddr()), host(n.HTTPAddr()))
	}
}

func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("stream", "", "stream to publish, <app>/<stream>")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := os.Getenv(config.EnvName("publish.tokenSecret"))
	if len(secret) < 16 {
		return fmt.Errorf("set %s (at least 16 characters) to the node's publish.tokenSecret", config.EnvName("publish.tokenSecret"))
	}
	p, err := stream.ParsePath(*path)
	if err != nil {
		return fmt.Errorf("-stream: %w", err)
	}
	if *ttl <= 0 {
		return errors.New("-ttl must be positive")
	}
	fmt.Fprintln(stdout, pubauth.Sign([]byte(secret), p, time.Now().Add(*ttl)))
	return nil
}
