package ctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/tlsconf"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// vodClient calls the VOD service's gRPC API.
type vodClient struct {
	addr    string
	timeout time.Duration
	conn    *grpc.ClientConn
	api     vodv1.VideoServiceClient
}

// vodClient connects (lazily: gRPC dials on the first call) to the VOD service named by --vod.
func (e *env) vodClient() (*vodClient, error) {
	if e.vod != nil {
		return e.vod, nil
	}
	host, port, err := net.SplitHostPort(e.vodAddr)
	if err != nil || host == "" || port == "" || strings.Contains(e.vodAddr, "/") {
		return nil, usagef("--vod must be host:port (e.g. %s), not %q", defaultVOD, e.vodAddr)
	}
	creds, secure, err := vodTransport(e.vodTLS, e.caFile)
	if err != nil {
		return nil, usagef("--ca-file: %v", err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if e.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: e.token, secure: secure}))
	}
	conn, err := grpc.NewClient(e.vodAddr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the VOD service at %s: %w", e.vodAddr, err)
	}
	e.vod = &vodClient{addr: e.vodAddr, timeout: e.timeout, conn: conn, api: vodv1.NewVideoServiceClient(conn)}
	return e.vod, nil
}

func (e *env) closeVOD() {
	if e.vod != nil {
		e.vod.conn.Close()
	}
}

// vodTransport chooses how the VOD service is reached: plaintext gRPC, or with --vod-tls TLS trusting
// caFile (or the system's roots), and secure then makes the bearer token refuse to travel over plaintext.
func vodTransport(useTLS bool, caFile string) (creds credentials.TransportCredentials, secure bool, err error) {
	if !useTLS {
		return insecure.NewCredentials(), false, nil
	}
	tc, err := tlsconf.ClientConfig(caFile)
	if err != nil {
		return nil, false, err
	}
	return credentials.NewTLS(tc), true, nil
}

// bearer sends the token as "authorization: Bearer <token>" with every call.
type bearer struct {
	token  string // never printed
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// call is a context for one unary call made during a long command (an upload, a download).
func (c *vodClient) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// rpcError is a gRPC status in the words of the command line: "NOT_FOUND: video x: not found".
type rpcError struct {
	code codes.Code
	msg  string
}

func (e *rpcError) Error() string { return codeName(e.code) + ": " + e.msg }

// fail turns what a call returned into an rpcError that names the VOD service where the status came from
// the transport rather than from the service. A command's own errors pass through.
func (c *vodClient) fail(err error) error {
	if err == nil {
		return nil
	}
	var re *rpcError
	var ue *usageError
	if errors.As(err, &re) || errors.As(err, &ue) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
		if st.Code() == codes.Unknown {
			return err
		}
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unauthenticated:
		msg += " (pass --token or set NAGARE_ADMIN_TOKEN: the admin token or an upload token from 'nagare token -vod-owner NAME')"
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("the VOD service at %s did not answer within %s (see --timeout)", c.addr, c.timeout)
	case codes.Canceled:
		msg = "interrupted"
	case codes.Unavailable:
		if d, ok := strings.CutPrefix(msg, "connection error: desc = "); ok {
			d = strings.Trim(d, `"`)
			if strings.Contains(d, "connection refused") {
				msg = fmt.Sprintf("cannot reach the VOD service at %s: connection refused (is it running? set --vod or NAGARE_VOD)", c.addr)
			} else {
				msg = fmt.Sprintf("cannot reach the VOD service at %s: %s", c.addr, strings.TrimPrefix(d, "transport: "))
			}
		}
	}
	return &rpcError{code: st.Code(), msg: msg}
}

// codeName is a code as the gRPC specification spells it (NOT_FOUND), which is also how grpcurl and the
// other languages' clients print it.
func codeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	s := c.String() // "NotFound", "OK", "Code(42)"
	if s == "OK" || strings.HasPrefix(s, "Code(") {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// codeOf is the gRPC code of err, whether it is still a status or already an rpcError.
func codeOf(err error) codes.Code {
	var re *rpcError
	if errors.As(err, &re) {
		return re.code
	}
	return status.Code(err)
}
