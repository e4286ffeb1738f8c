package objstore_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
)

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       objstore.S3Config
		key, want string
	}{
		{"path style", objstore.S3Config{Endpoint: "http://127.0.0.1:7070", Bucket: "live", PathStyle: true},
			"hls/a/b.m3u8", "http://127.0.0.1:7070/live/hls/a/b.m3u8"},
		{"path style, endpoint with a path", objstore.S3Config{Endpoint: "https://gw.example/s3/", Bucket: "live", PathStyle: true},
			"k", "https://gw.example/s3/live/k"},
		{"virtual host", objstore.S3Config{Endpoint: "https://minio.example:9000", Bucket: "live"},
			"k", "https://live.minio.example:9000/k"},
		{"AWS", objstore.S3Config{Region: "eu-west-1", Bucket: "live"}, "k", "https://live.s3.eu-west-1.amazonaws.com/k"},
		{"AWS, default region, path style", objstore.S3Config{Bucket: "live", PathStyle: true}, "k",
			"https://s3.us-east-1.amazonaws.com/live/k"},
		{"escaped elements", objstore.S3Config{Endpoint: "http://h", Bucket: "b", PathStyle: true}, "a b/c?d#e",
			"http://h/b/a%20b/c%3Fd%23e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := objstore.NewS3(context.Background(), tc.cfg)
			require.NoError(t, err)
			require.Equal(t, tc.want, s.PublicURL(tc.key))
		})
	}
}

// TestBucketPublicReadAndCORS runs against versitygw, which implements bucket policies (anonymous access
// included) and bucket CORS: a fresh bucket refuses readers without credentials and browsers of another
// origin; AllowPublicRead opens exactly the push prefix and keeps the bucket's other statements;
// AllowCORS lets a page of any origin read (preflight and GET) and keeps the bucket's other rules; both
// can run again; CheckPublic says which of the two is missing and leaves no probe object behind.
func TestBucketPublicReadAndCORS(t *testing.T) {
	ctx := context.Background()
	endpoint, ak, sk := testutil.S3Server(t)
	st, err := objstore.NewS3(ctx, objstore.S3Config{Endpoint: endpoint, Bucket: "pub", AccessKey: ak, SecretKey: sk, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, st.CreateBucket(ctx))
	for _, k := range []string{"hls/live/cam/stream.m3u8", "hlsother/x.txt", "private/y.txt", "keep/z.txt"} {
		require.NoError(t, st.Put(ctx, k, strings.NewReader("#EXTM3U\n"), 8, objstore.PutOptions{ContentType: "application/vnd.apple.mpegurl"}))
	}
	anonGET := func(key string) int {
		res, err := http.Get(st.PublicURL(key))
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}

	// as created: nothing is public
	require.Equal(t, http.StatusForbidden, anonGET("hls/live/cam/stream.m3u8"))
	err = st.CheckAnonymousRead(ctx, "hls/live/cam/stream.m3u8")
	require.ErrorIs(t, err, objstore.ErrNotPublic)
	require.ErrorContains(t, err, "put-public-access-block", "the error says how to fix it by hand")
	require.ErrorContains(t, err, "mc anonymous set download ALIAS/pub/hls/live/cam")
	require.ErrorIs(t, st.CheckPublic(ctx, "hls"), objstore.ErrNotPublic)

	// an operator's own statement and CORS rule, which the setup must keep
	raw := rawClient(t, endpoint, ak, sk)
	_, err = raw.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pub"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Sid":"Keep","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::pub/keep/*"]}]}`)})
	require.NoError(t, err)
	_, err = raw.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("pub"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{ID: aws.String("mine"), AllowedOrigins: []string{"https://admin.example"}, AllowedMethods: []string{"PUT"}}},
	}})
	require.NoError(t, err)

	require.NoError(t, st.AllowPublicRead(ctx, "hls"))
	require.NoError(t, st.AllowPublicRead(ctx, "/hls/"), "again, for the same prefix")
	require.Equal(t, http.StatusOK, anonGET("hls/live/cam/stream.m3u8"))
	require.Equal(t, http.StatusForbidden, anonGET("hlsother/x.txt"), "only the prefix, not keys that start like it")
	require.Equal(t, http.StatusForbidden, anonGET("private/y.txt"))
	require.Equal(t, http.StatusOK, anonGET("keep/z.txt"), "the operator's statement is kept")
	pol, err := raw.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pub")})
	require.NoError(t, err)
	var doc struct{ Statement []struct{ Sid string } }
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc))
	require.Len(t, doc.Statement, 2, "one statement of ours however often it runs: %s", aws.ToString(pol.Policy))
	require.NoError(t, st.CheckAnonymousRead(ctx, "hls/live/cam/stream.m3u8"))

	// readable, but not from a page of another origin yet
	err = st.CheckPublic(ctx, "hls")
	require.ErrorIs(t, err, objstore.ErrNoCORS)
	require.ErrorContains(t, err, "put-bucket-cors")

	require.NoError(t, st.AllowCORS(ctx))
	require.NoError(t, st.AllowCORS(ctx), "again")
	cors, err := raw.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("pub")})
	require.NoError(t, err)
	var ids []string
	for _, r := range cors.CORSRules {
		ids = append(ids, aws.ToString(r.ID))
	}
	require.ElementsMatch(t, []string{"mine", "nagare-hls"}, ids, "the operator's rule is kept, ours is there once")

	// what a browser does: a preflight for a ranged GET, then the GET
	u := st.PublicURL("hls/live/cam/stream.m3u8")
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "range")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "GET")
	req, _ = http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	req.Header.Set("Range", "bytes=0-3")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusPartialContent, res.StatusCode)
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	for _, h := range []string{"Content-Length", "Content-Range", "ETag"} {
		require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), h)
	}

	require.NoError(t, st.CheckPublic(ctx, "hls"))
	objs, err := st.List(ctx, "hls/")
	require.NoError(t, err)
	require.Len(t, objs, 1, "the probe objects are deleted: %v", objs)
}

// rawClient is an S3 client of the test's own, to set and read what AllowPublicRead and AllowCORS must
// keep.
func rawClient(t *testing.T, endpoint, ak, sk string) *s3.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, "")))
	require.NoError(t, err)
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(endpoint), true })
}
