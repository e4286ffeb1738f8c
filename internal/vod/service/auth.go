package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// principal is who a call is made by: the admin (every owner's videos) or one owner.
type principal struct {
	admin bool
	owner string
}

// canSee reports whether p may read or change owner's videos.
func (p principal) canSee(owner string) bool { return p.admin || p.owner == owner }

type principalKey struct{}

// MaxOwner is the longest owner name.
const MaxOwner = 128

// ValidOwner reports whether name can own videos: 1 to 128 of [A-Za-z0-9._-].
func ValidOwner(name string) bool {
	if name == "" || len(name) > MaxOwner {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// SignUploadToken makes a token that lets its bearer upload and manage owner's videos until expires:
// "vod1.<owner>.<unix expiry>.<base64url HMAC-SHA256>".
func SignUploadToken(secret []byte, owner string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return "vod1." + owner + "." + exp + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, owner, exp))
}

func tokenMAC(secret []byte, owner, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("nagare-vod-upload\x00" + owner + "\x00" + exp))
	return m.Sum(nil)
}

// authenticate reads the bearer token of a call.
func (s *Service) authenticate(ctx context.Context) (principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return principal{}, status.Error(codes.Unauthenticated, `missing "authorization: Bearer <token>" metadata`)
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return principal{}, status.Error(codes.Unauthenticated, `authorization must be "Bearer <token>"`)
	}
	if s.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
		return principal{admin: true}, nil
	}
	owner, err := s.verifyUploadToken(tok)
	if err != nil {
		return principal{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return principal{owner: owner}, nil
}

func (s *Service) verifyUploadToken(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != "vod1" || len(s.cfg.Secret) == 0 {
		return "", fmt.Errorf("invalid token")
	}
	owner, exp, sig := parts[1], parts[2], parts[3]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !ValidOwner(owner) || !hmac.Equal(got, tokenMAC(s.cfg.Secret, owner, exp)) {
		return "", fmt.Errorf("invalid token")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > e {
		return "", fmt.Errorf("token expired")
	}
	return owner, nil
}

// UnaryAuth and StreamAuth authenticate every call of the VideoService (health and reflection are open).
func (s *Service) UnaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, "/nagare.vod.v1.") {
		return h(ctx, req)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return h(context.WithValue(ctx, principalKey{}, p), req)
}

func (s *Service) StreamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, "/nagare.vod.v1.") {
		return h(srv, ss)
	}
	p, err := s.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, &authedStream{ss, context.WithValue(ss.Context(), principalKey{}, p)})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

func caller(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}
