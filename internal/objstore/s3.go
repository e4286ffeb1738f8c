package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config selects an S3-compatible bucket.
type S3Config struct {
	Endpoint  string // base URL, e.g. http://127.0.0.1:7070; empty means AWS's regional endpoint
	Region    string // empty means us-east-1
	Bucket    string
	AccessKey string // empty: the AWS default chain (env, shared config, instance role)
	SecretKey string
	PathStyle bool // bucket in the path rather than the host name; most S3-compatible servers want this
}

// S3 stores objects in one bucket of an S3-compatible server.
type S3 struct {
	// PartSize is the size of each part of a multipart upload; zero means 16 MiB. It is raised to S3's
	// 5 MiB minimum, and for one upload as far as needed to stay within 10,000 parts.
	PartSize int64
	// MultipartThreshold is the largest object sent in one PutObject; larger ones go up in parts. Zero means
	// 64 MiB; it is capped at PutObject's 5 GiB limit.
	MultipartThreshold int64

	client *s3.Client
	bucket string
	// publicBase is the URL anonymous readers fetch the bucket's objects under (publicBase + "/" + key).
	publicBase string
	// anon makes the anonymous requests of the checks in public.go; nil means http.DefaultClient.
	anon *http.Client
}

// NewS3 builds a client for cfg. It does not contact the server.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("objstore: empty S3 bucket")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// A multipart object's checksum is a checksum of part checksums, which a GET cannot verify; the SDK
		// would say so on stderr, past slog, for every read of a recording.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3{client: client, bucket: cfg.Bucket, publicBase: publicBase(cfg.Endpoint, region, cfg.Bucket, cfg.PathStyle)}, nil
}

// CreateBucket creates the bucket; an existing bucket owned by the caller is not an error.
func (s *S3) CreateBucket(ctx context.Context) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	return fmt.Errorf("creating bucket %q: %w", s.bucket, err)
}

// Put uploads the object in one PutObject request, or as a multipart upload when size exceeds the
// multipart threshold; r must yield exactly size bytes.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("putting %q: negative size %d", key, size)
	}
	if size > s.multipartThreshold() {
		return s.putMultipart(ctx, key, r, size, opts)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          r,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentTypeOrDefault(opts.ContentType)),
	}
	if opts.CacheControl != "" {
		in.CacheControl = aws.String(opts.CacheControl)
	}
	var optFns []func(*s3.Options)
	if _, ok := r.(io.ReadSeeker); !ok {
		// The SDK must read a body twice to hash it for the signature and for a checksum header, and over
		// plain HTTP it will not fall back to a trailing checksum: send such a body unsigned, without an
		// optional checksum, in one pass.
		optFns = append(optFns, func(o *s3.Options) {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		})
	}
	if _, err := s.client.PutObject(ctx, in, optFns...); err != nil {
		return s3Err("putting", key, err)
	}
	return nil
}

// Get streams the object, or the inclusive byte range rng of it.
func (s *S3) Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if rng != nil {
		// Validated here: S3 silently ignores a malformed Range header and returns the whole object.
		if err := rng.validate(); err != nil {
			return nil, ObjectInfo{}, err
		}
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Start, rng.End))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, ObjectInfo{}, s3Err("getting", key, err)
	}
	info := ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		CacheControl: aws.ToString(out.CacheControl),
		ModTime:      aws.ToTime(out.LastModified),
	}
	if rng != nil {
		// "bytes 0-9/100": the total follows the slash.
		cr := aws.ToString(out.ContentRange)
		i := strings.LastIndexByte(cr, '/')
		total, err := strconv.ParseInt(cr[i+1:], 10, 64)
		if i < 0 || err != nil {
			out.Body.Close()
			return nil, ObjectInfo{}, fmt.Errorf("getting %q: unexpected Content-Range %q", key, cr)
		}
		info.Size = total
	}
	return out.Body, info, nil
}

// Head returns the object's size, metadata and modification time.
func (s *S3) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, s3Err("heading", key, err)
	}
	return ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		CacheControl: aws.ToString(out.CacheControl),
		ModTime:      aws.ToTime(out.LastModified),
	}, nil
}

// Delete removes the object; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !errors.Is(s3Err("", key, err), ErrNotFound) {
		return s3Err("deleting", key, err)
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var out []ObjectInfo
	for p := s3.NewListObjectsV2Paginator(s.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// s3Err maps a missing object to ErrNotFound and an unsatisfiable range to ErrInvalidRange. A missing
// bucket stays a plain error: it is a configuration fault, not an absent object.
func s3Err(op, key string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("%s %q: %w", op, key, err)
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %q", ErrNotFound, key)
		case "InvalidRange":
			return fmt.Errorf("%w: %q: %v", ErrInvalidRange, key, err)
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %q", ErrNotFound, key)
		case http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%w: %q: %v", ErrInvalidRange, key, err)
		}
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}
