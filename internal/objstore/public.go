package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// CheckOrigin is the Origin the CORS check pretends to be: a web page on another host than the bucket.
const CheckOrigin = "https://player.example"

// corsRuleID names the CORS rule AllowCORS adds, so that running it again replaces that rule only.
const corsRuleID = "nagare-hls"

// publicBase is the URL under which anonymous readers fetch the bucket's objects: the endpoint with the
// bucket as the first path element (path style) or as the first label of the host name (virtual hosts),
// and AWS's regional endpoint when there is no endpoint.
func publicBase(endpoint, region, bucket string, pathStyle bool) string {
	if endpoint == "" {
		if pathStyle {
			return "https://s3." + region + ".amazonaws.com/" + bucket
		}
		return "https://" + bucket + ".s3." + region + ".amazonaws.com"
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || u.Host == "" {
		return strings.TrimRight(endpoint, "/") + "/" + bucket
	}
	if pathStyle {
		u.Path += "/" + bucket
	} else {
		u.Host = bucket + "." + u.Host
	}
	return u.String()
}

// PublicURL is the URL at which a reader without credentials (a player, a CDN) fetches key.
func (s *S3) PublicURL(key string) string {
	elems := strings.Split(key, "/")
	for i, e := range elems {
		elems[i] = url.PathEscape(e)
	}
	return s.publicBase + "/" + strings.Join(elems, "/")
}

// publicReadStatement is the bucket policy statement AllowPublicRead adds for prefix: anyone may GET the
// objects under it, nothing else (no listing, no writes).
func (s *S3) publicReadStatement(prefix string) (sid string, stmt json.RawMessage) {
	resource := "arn:aws:s3:::" + s.bucket + "/*"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		resource = "arn:aws:s3:::" + s.bucket + "/" + prefix + "/*"
	}
	h := sha256.Sum256([]byte(prefix))
	sid = "NagarePublicRead" + hex.EncodeToString(h[:4])
	stmt, _ = json.Marshal(map[string]any{
		"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": []string{"s3:GetObject"}, "Resource": []string{resource},
	})
	return sid, stmt
}

// PublicReadPolicy is the bucket policy AllowPublicRead sets on a bucket that has none, for operators who
// apply it by hand.
func (s *S3) PublicReadPolicy(prefix string) string {
	_, stmt := s.publicReadStatement(prefix)
	return `{"Version":"2012-10-17","Statement":[` + string(stmt) + `]}`
}

// AllowPublicRead lets anyone GET the objects under prefix ("" = the whole bucket) without credentials,
// which players reading live HLS straight from the bucket need. It adds one statement to the bucket's
// policy, or replaces the one it added before for the same prefix; other statements are kept.
func (s *S3) AllowPublicRead(ctx context.Context, prefix string) error {
	sid, stmt := s.publicReadStatement(prefix)
	doc := map[string]json.RawMessage{"Version": json.RawMessage(`"2012-10-17"`)}
	var stmts []json.RawMessage
	out, err := s.client.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(s.bucket)})
	switch {
	case err == nil && aws.ToString(out.Policy) != "":
		if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
			return fmt.Errorf("reading the policy of bucket %q: %w", s.bucket, err)
		}
		if stmts, err = policyStatements(doc["Statement"]); err != nil {
			return fmt.Errorf("reading the policy of bucket %q: %w", s.bucket, err)
		}
	case err != nil && apiCode(err) != "NoSuchBucketPolicy":
		return fmt.Errorf("reading the policy of bucket %q (to add a public-read statement for %q): %w; %s",
			s.bucket, prefix, err, s.publicReadHint(prefix))
	}
	kept := stmts[:0]
	for _, st := range stmts {
		var head struct{ Sid string }
		if json.Unmarshal(st, &head) == nil && head.Sid == sid {
			continue
		}
		kept = append(kept, st)
	}
	doc["Statement"], _ = json.Marshal(append(kept, stmt))
	policy, _ := json.Marshal(doc)
	if _, err := s.client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{
		Bucket: aws.String(s.bucket), Policy: aws.String(string(policy)),
	}); err != nil {
		return fmt.Errorf("setting a public-read policy for %q on bucket %q: %w; %s", prefix, s.bucket, err, s.publicReadHint(prefix))
	}
	return nil
}

// policyStatements reads a policy's Statement, which is a list or a single statement.
func policyStatements(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, nil
	case raw[0] == '{':
		return []json.RawMessage{raw}, nil
	}
	var stmts []json.RawMessage
	err := json.Unmarshal(raw, &stmts)
	return stmts, err
}

func (s *S3) publicReadHint(prefix string) string {
	mcPath := s.bucket
	if p := strings.Trim(prefix, "/"); p != "" {
		mcPath += "/" + p
	}
	return fmt.Sprintf("on AWS, Block Public Access refuses public policies (AccessDenied): allow them for this bucket with "+
		"`aws s3api put-public-access-block --bucket %s --public-access-block-configuration "+
		"BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=false` "+
		"(and in the account's Block Public Access settings if they block it), then retry or apply the policy by hand: "+
		"`aws s3api put-bucket-policy --bucket %s --policy '%s'`; on MinIO: `mc anonymous set download ALIAS/%s`",
		s.bucket, s.bucket, s.PublicReadPolicy(prefix), mcPath)
}

// CORSRule is the rule AllowCORS sets: any origin may GET and HEAD, with any request header (Range among
// them), and may read Content-Length, Content-Range and ETag.
func CORSRule() types.CORSRule {
	return types.CORSRule{
		ID:             aws.String(corsRuleID),
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodGet, http.MethodHead},
		AllowedHeaders: []string{"*"},
		ExposeHeaders:  []string{"Content-Length", "Content-Range", "ETag"},
		MaxAgeSeconds:  aws.Int32(3600),
	}
}

// AllowCORS lets web pages of any origin read the bucket's objects (what a browser player such as hls.js
// on another host needs). It adds CORSRule to the bucket's CORS configuration, or replaces the rule it
// added before; other rules are kept.
func (s *S3) AllowCORS(ctx context.Context) error {
	var rules []types.CORSRule
	out, err := s.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(s.bucket)})
	switch {
	case err == nil:
		for _, r := range out.CORSRules {
			if aws.ToString(r.ID) != corsRuleID {
				rules = append(rules, r)
			}
		}
	case apiCode(err) != "NoSuchCORSConfiguration":
		return fmt.Errorf("reading the CORS configuration of bucket %q: %w; %s", s.bucket, err, s.corsHint())
	}
	rules = append(rules, CORSRule())
	if _, err := s.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(s.bucket), CORSConfiguration: &types.CORSConfiguration{CORSRules: rules},
	}); err != nil {
		return fmt.Errorf("setting a CORS rule on bucket %q: %w; %s", s.bucket, err, s.corsHint())
	}
	return nil
}

func (s *S3) corsHint() string {
	return fmt.Sprintf("set it by hand: `aws s3api put-bucket-cors --bucket %s --cors-configuration "+
		`'{"CORSRules":[{"AllowedOrigins":["*"],"AllowedMethods":["GET","HEAD"],"AllowedHeaders":["*"],`+
		`"ExposeHeaders":["Content-Length","Content-Range","ETag"],"MaxAgeSeconds":3600}]}'`+"`; "+
		"community MinIO has no bucket CORS (NotImplemented) and answers every origin unless "+
		"`mc admin config set ALIAS api cors_allow_origin=...` narrowed it", s.bucket)
}

// CheckAnonymousRead GETs key from its public URL without credentials. It returns nil on 200, an error
// wrapping ErrNotPublic on 401 or 403, and another error for any other answer or a failed request.
func (s *S3) CheckAnonymousRead(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	u := s.PublicURL(key)
	res, err := s.anonymous(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("reading %s without credentials: %w", u, err)
	}
	switch res.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: GET %s without credentials answered %d; allow it with push.publicRead or "+
			"`nagare bucket setup`, or by hand (%s)", ErrNotPublic, u, res.StatusCode, s.publicReadHint(keyPrefix(key)))
	}
	return fmt.Errorf("reading %s without credentials: unexpected status %d", u, res.StatusCode)
}

// CheckCORS asks key's public URL, as a page of origin would (a preflight for a GET with a Range header,
// then the GET), whether a browser may read it. It returns nil when both answers allow origin, an error
// wrapping ErrNoCORS when one does not, and another error for a failed request.
func (s *S3) CheckCORS(ctx context.Context, key, origin string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	u := s.PublicURL(key)
	allowed := func(h http.Header) bool {
		a := h.Get("Access-Control-Allow-Origin")
		return a == "*" || a == origin
	}
	res, err := s.anonymous(ctx, http.MethodOptions, u, http.Header{
		"Origin": {origin}, "Access-Control-Request-Method": {http.MethodGet}, "Access-Control-Request-Headers": {"range"},
	})
	if err != nil {
		return fmt.Errorf("CORS preflight to %s: %w", u, err)
	}
	if res.StatusCode/100 != 2 || !allowed(res.Header) {
		return fmt.Errorf("%w: the CORS preflight (OPTIONS %s from Origin %s) answered %d without allowing it; "+
			"allow it with push.cors or `nagare bucket setup`, or %s", ErrNoCORS, u, origin, res.StatusCode, s.corsHint())
	}
	res, err = s.anonymous(ctx, http.MethodGet, u, http.Header{"Origin": {origin}, "Range": {"bytes=0-"}})
	if err != nil {
		return fmt.Errorf("GET %s from Origin %s: %w", u, origin, err)
	}
	if res.StatusCode/100 != 2 || !allowed(res.Header) {
		return fmt.Errorf("%w: GET %s from Origin %s answered %d without Access-Control-Allow-Origin; "+
			"allow it with push.cors or `nagare bucket setup`, or %s", ErrNoCORS, u, origin, res.StatusCode, s.corsHint())
	}
	return nil
}

// CheckPublic writes a small probe object under prefix, checks that a reader without credentials can
// GET it (CheckAnonymousRead) and, if it can, that a page of CheckOrigin may (CheckCORS), then deletes
// it. It returns nil when both hold, and otherwise the first that does not (ErrNotPublic, ErrNoCORS) or
// why the check could not be made.
func (s *S3) CheckPublic(ctx context.Context, prefix string) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "nagare-probe-" + hex.EncodeToString(b[:]) + ".txt"
	if p := strings.Trim(prefix, "/"); p != "" {
		key = p + "/" + key
	}
	const body = "nagare: probe of anonymous read access; deleted at once\n"
	if err := s.Put(ctx, key, strings.NewReader(body), int64(len(body)), PutOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("writing the probe object: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = s.Delete(dctx, key)
	}()
	if err := s.CheckAnonymousRead(ctx, key); err != nil {
		return err
	}
	return s.CheckCORS(ctx, key, CheckOrigin)
}

// anonymous makes a request without credentials and reads (and drops) the body.
func (s *S3) anonymous(ctx context.Context, method, u string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	c := s.anon
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res, nil
}

// keyPrefix is the key without its last element.
func keyPrefix(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return ""
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
