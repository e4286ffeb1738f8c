// Package ctl implements `nagare ctl`, the command line client of the stream manager's native API and of
// the VOD service's gRPC API.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/tlsconf"
)

const (
	defaultManager = "http://127.0.0.1:5080"
	defaultVOD     = "127.0.0.1:9090"
)

// command is one `nagare ctl` command.
type command struct {
	name     string // "policy create"
	synopsis string // arguments and flags, for the usage text
	summary  string
	run      func(e *env, args []string) error
}

// commands lists every command in the order of the usage text; it is filled in by init because the
// help command refers to it.
var commands []*command

func init() {
	commands = []*command{
		{"policy create", "--name N --target ROLE:MIN:MAX[:STEP]... [--description D] [--warmup 150s] [--cooldown 3m]", "create a scale policy (--target once per role; STEP defaults to 1)", policyCreate},
		{"policy list", "", "list the scale policies", policyList},
		{"policy get", "NAME", "show a scale policy", policyGet},
		{"policy delete", "NAME", "delete a scale policy", policyDelete},
		{"config create", "--name N --image I --target ROLE:INSTANCETYPE:CAPACITY... [--version V] [--description D] [--meta k=v]...", "create a launch configuration (--target once per role)", configCreate},
		{"config list", "", "list the launch configurations", configList},
		{"config get", "NAME", "show a launch configuration", configGet},
		{"config delete", "NAME", "delete a launch configuration", configDelete},
		{"group create", "[--name N] --config C --policy P [--region R]...", "create a node group (the manager names it when --name is not given)", groupCreate},
		{"group list", "", "list the node groups", groupList},
		{"group get", "NAME", "show a node group", groupGet},
		{"group delete", "NAME", "delete a node group", groupDelete},
		{"group nodes", "NAME", "list the nodes of a group", groupNodes},
		{"group launch", "NAME ROLE", "launch a node of ROLE in group NAME now through the cloud controller (at the role's maxLimit: show the launch still on its way into service)", groupLaunch},
		{"group upgrade", "NAME [--version V] [--image I] [--max-surge N]", "roll the group's nodes over to a new nagare version or image: sets them on its launch configuration, and the autoscaler replaces the nodes one step at a time", groupUpgrade},
		{"group rollout", "NAME", "show how far the group's rolling upgrade is", groupRollout},
		{"nodes", "[--group G]", "list the nodes with their state and load", nodesList},
		{"node get", "ID", "show a node", nodeGet},
		{"node events", "ID [--limit N]", "list the latest lifecycle transitions of a node, oldest first", nodeEvents},
		{"node drain", "ID", "stop sending new clients to a node", nodeDrain},
		{"instances", "", "list the instances the cloud controller runs", instancesList},
		{"events", "[--limit N]", "list the latest lifecycle transitions of all nodes, oldest first", eventsList},
		{"scale events", "[--group G] [--limit N]", "list the autoscaler's latest decisions with their reasons, oldest first", scaleEvents},
		{"streams", "", "list the live streams and their origins", streamsList},
		{"alarms", "", "list the load thresholds at which each role scales out", alarmsList},
		{"alarm set", "--role R --threshold PCT", "set the scale-out threshold of a role (percent of capacity)", alarmSet},
		{"record", "APP/STREAM [--stop]", "record a stream into storage, live now and next publications (every in-service origin is told)", recordCmd},
		{"stream ladder set", "APP/STREAM --rung NAME:HEIGHT:BITRATE[:MAXRATE]... [--audio-bitrate N]", "provision the renditions the origin makes of a stream (APP/STREAM_NAME each), replacing any earlier ladder", ladderSet},
		{"stream ladder get", "APP/STREAM", "show the ladder provisioned for a stream", ladderGet},
		{"stream ladder rm", "APP/STREAM", "remove a stream's ladder (the origin's own applies again)", ladderRemove},
		{"stream stop", "APP/STREAM", "stop the publisher of a live stream: its origin closes the connection (the publisher may publish again with its credentials)", streamStop},
		{"ladders", "", "list the provisioned ladders", laddersList},
		{"route publish", "APP/STREAM [--group G]", "ask where a publisher should send APP/STREAM", routePublish},
		{"route play", "APP/STREAM [--region R] [--group G]", "ask where a viewer should play APP/STREAM", routePlay},
		{"vod upload", "FILE [--title T] [--description D] [--visibility private|unlisted|public] [--owner O] [--chunk 1MiB] [--wait]", "upload a video file; run it again to resume an interrupted upload of the same file", vodUpload},
		{"vod ls", "[--owner O] [--status S] [--limit N]", "list videos, newest first", vodList},
		{"vod info", "ID", "show a video with all its fields and renditions", vodInfo},
		{"vod set", "ID [--title T] [--description D] [--visibility V]", "change a video's title, description or visibility", vodSet},
		{"vod url", "ID [--ttl 1h]", "show a video's playback URLs (signed, and expiring after --ttl, when it is private)", vodURL},
		{"vod download", "ID [--mp4] -O FILE", "download a video's original file, or its MP4 (-O - writes to stdout)", vodDownload},
		{"vod rm", "ID", "delete a video and everything stored for it", vodRemove},
		{"help", "[COMMAND]", "show this text, or the flags of a command", helpCmd},
	}
}

// env is what a command runs with.
type env struct {
	// ctx ends after --timeout; base only when the caller stops (an upload or download runs on base, each
	// of its calls with its own deadline).
	ctx     context.Context
	base    context.Context
	timeout time.Duration
	client  *client
	json    bool
	cmd     *command
	stdout  io.Writer
	stderr  io.Writer

	vodAddr string // --vod, checked when a vod command first needs it
	vodTLS  bool   // --vod-tls
	caFile  string // --ca-file
	token   string
	vod     *vodClient
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp reports that help was asked for and printed.
var errHelp = flag.ErrHelp

// Main runs `nagare ctl` with args (after "ctl") and returns the exit code: 0 ok, 1 API or runtime
// error, 2 usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	err := e.main(ctx, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nagare ctl: %s\n", ue.msg)
		if e.cmd != nil && e.cmd.name != "help" {
			fmt.Fprintf(stderr, "Run 'nagare ctl %s -h' for its flags.\n", e.cmd.name)
		} else {
			fmt.Fprintln(stderr, "Run 'nagare ctl help' for the commands.")
		}
		return 2
	default:
		fmt.Fprintf(stderr, "nagare ctl: %v\n", err)
		return 1
	}
}

// globals are the flags before the command.
type globals struct {
	fs      *flag.FlagSet
	manager *string
	vod     *string
	token   *string
	output  *string
	timeout *time.Duration
	caFile  *string
	vodTLS  *bool
	existOK *bool
}

func newGlobals() *globals {
	fs := flag.NewFlagSet("nagare ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	managerDefault := os.Getenv("NAGARE_MANAGER_URL")
	if managerDefault == "" {
		managerDefault = defaultManager
	}
	vodDefault := os.Getenv("NAGARE_VOD")
	if vodDefault == "" {
		vodDefault = defaultVOD
	}
	return &globals{
		fs:      fs,
		manager: fs.String("manager", managerDefault, "base `URL` of the stream manager (env NAGARE_MANAGER_URL)"),
		vod:     fs.String("vod", vodDefault, "the VOD service's gRPC `address`, host:port (env NAGARE_VOD)"),
		// no default shown: the token must never be printed
		token:   fs.String("token", "", "admin `token`, or for vod commands an upload token (default: env NAGARE_ADMIN_TOKEN)"),
		output:  fs.String("o", "table", "output `format`: table, or json for the API's JSON"),
		timeout: fs.Duration("timeout", 10*time.Second, "give up on a call after this long (an upload or download runs as long as it makes progress)"),
		caFile:  fs.String("ca-file", os.Getenv("NAGARE_CA_FILE"), "PEM `file` of the authority to trust for an https manager and a TLS VOD service, instead of the system's (env NAGARE_CA_FILE)"),
		vodTLS:  fs.Bool("vod-tls", os.Getenv("NAGARE_VOD_TLS") == "true", "reach the VOD service over TLS (env NAGARE_VOD_TLS=true)"),
		existOK: fs.Bool("exist-ok", false, "a create of something that already exists succeeds (for setup scripts run more than once)"),
	}
}

func (e *env) main(ctx context.Context, args []string) error {
	g := newGlobals()
	fs := g.fs
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout)
			return errHelp
		}
		return usagef("%v", err)
	}
	switch *g.output {
	case "table":
	case "json":
		e.json = true
	default:
		return usagef("-o must be table or json, not %q", *g.output)
	}
	if *g.timeout <= 0 {
		return usagef("--timeout must be positive, not %s", *g.timeout)
	}
	base, err := managerURL(*g.manager)
	if err != nil {
		return err
	}
	tok := strings.TrimSpace(*g.token)
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv("NAGARE_ADMIN_TOKEN"))
	}

	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(e.stderr)
		return usagef("no command given")
	}
	cmd, n := lookup(rest)
	if cmd == nil {
		return unknownCommand(rest)
	}
	e.cmd = cmd
	var cancel context.CancelFunc
	e.base, e.timeout = ctx, *g.timeout
	e.ctx, cancel = context.WithTimeout(ctx, *g.timeout)
	defer cancel()
	transport, err := tlsconf.Transport(*g.caFile)
	if err != nil {
		return usagef("--ca-file: %v", err)
	}
	e.client = newClient(base, tok, *g.timeout)
	e.client.http.Transport = transport
	e.vodAddr, e.token = strings.TrimSpace(*g.vod), tok
	e.vodTLS, e.caFile = *g.vodTLS, *g.caFile
	defer e.closeVOD()
	err = cmd.run(e, rest[n:])
	var ae *apiError
	if *g.existOK && strings.HasSuffix(cmd.name, " create") && errors.As(err, &ae) && ae.code == http.StatusConflict &&
		strings.HasSuffix(ae.message, "already exists") {
		fmt.Fprintf(e.stderr, "nagare ctl: %s (--exist-ok)\n", ae.message)
		return nil
	}
	return err
}

// lookup finds the command named by the first one, two or three words of args and returns how many
// words it took.
func lookup(args []string) (*command, int) {
	if len(args) >= 3 {
		if c := find(args[0] + " " + args[1] + " " + args[2]); c != nil {
			return c, 3
		}
	}
	if len(args) >= 2 {
		if c := find(args[0] + " " + args[1]); c != nil {
			return c, 2
		}
	}
	switch args[0] {
	case "-h", "--help", "-help":
		return find("help"), 1
	}
	if c := find(args[0]); c != nil {
		return c, 1
	}
	return nil, 0
}

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func unknownCommand(args []string) error {
	var subs []string
	for _, c := range commands {
		if sub, ok := strings.CutPrefix(c.name, args[0]+" "); ok {
			subs = append(subs, sub)
		}
	}
	if len(subs) == 0 {
		return usagef("unknown command %q", args[0])
	}
	if len(args) == 1 {
		return usagef("%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))
	}
	return usagef("unknown command %q: %s takes %s", args[0]+" "+args[1], args[0], strings.Join(subs, ", "))
}

func managerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--manager must be an http:// or https:// URL, not %q", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// helpCmd prints the general usage, or a command's usage when args name one.
func helpCmd(e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		printUsage(e.stdout)
		return nil
	}
	cmd, n := lookup(args)
	if cmd == nil || n != len(args) {
		return usagef("help: no command %q", strings.Join(args, " "))
	}
	if cmd.name == "help" {
		printUsage(e.stdout)
		return nil
	}
	e.cmd = cmd
	return cmd.run(e, []string{"-h"})
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "nagare ctl: manage a nagare stream manager and its VOD service through their APIs\n\n")
	fmt.Fprint(w, "Usage:\n  nagare ctl [global flags] COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s", c.name)
		if c.synopsis != "" {
			fmt.Fprintf(w, " %s", c.synopsis)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, vodUsage)
	fmt.Fprint(w, "\nGlobal flags (before the command):\n")
	g := newGlobals()
	g.fs.SetOutput(w)
	g.fs.PrintDefaults()
	fmt.Fprint(w, "\nRun 'nagare ctl COMMAND -h' for the flags of a command.\n")
}

const vodUsage = `
VOD: the vod commands call the VOD service's gRPC API at --vod (env NAGARE_VOD) with --token as the
bearer: the admin token (every owner's videos) or an upload token from 'nagare token -vod-owner NAME'
(that owner's videos only). An upload sends the file's SHA-256 first and keeps its upload id in a small
state file under the user cache directory (or NAGARE_CACHE_DIR); it retries by itself when the
connection breaks, and running the same command again for the unchanged file resumes where the server
stopped.
`

// flags returns a FlagSet for the running command; parse reads it.
func (e *env) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(e.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse reads args, where flags and positional arguments may be mixed ("node events ID --limit 5"),
// and checks that the positional arguments are exactly the ones named.
func (e *env) parse(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.printCommandUsage(fs)
				return nil, errHelp
			}
			return nil, usagef("%s: %v", e.cmd.name, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != len(names) {
		if len(names) == 0 {
			return nil, usagef("%s takes no arguments, got %q", e.cmd.name, strings.Join(pos, " "))
		}
		return nil, usagef("%s needs %s", e.cmd.name, strings.Join(names, " "))
	}
	for i, a := range pos {
		if strings.TrimSpace(a) == "" {
			return nil, usagef("%s: %s must not be empty", e.cmd.name, names[i])
		}
	}
	return pos, nil
}

func (e *env) printCommandUsage(fs *flag.FlagSet) {
	fmt.Fprintf(e.stdout, "Usage: nagare ctl %s %s\n\n%s.\n", e.cmd.name, e.cmd.synopsis, upperFirst(e.cmd.summary))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(e.stdout, "\nFlags:\n")
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// required reports the first of the named flags left empty.
func required(cmd string, flags ...[2]string) error {
	for _, f := range flags {
		if f[1] == "" {
			return usagef("%s: --%s is required", cmd, f[0])
		}
	}
	return nil
}
