package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore"
)

const bucketUsage = `Usage:
  nagare bucket setup [flags]   let players read the push's bucket: a public-read policy for push.prefix
                                and a CORS rule for browsers (each added beside what the bucket has), then check
  nagare bucket check [flags]   check that a reader without credentials, and a web page of another origin,
                                can read a probe object written under push.prefix (exit status 1 if not)

The bucket is storage.* of the configuration (--config, NAGARE_STORAGE_*); it must be an s3 backend.
`

// runBucket sets up or checks the storage push's bucket for players.
func runBucket(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action := ""
	if len(args) > 0 {
		action = args[0]
	}
	switch action {
	case "setup", "check":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, bucketUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, bucketUsage)
		return fmt.Errorf("bucket: want setup or check, not %q", action)
	}
	fs := flag.NewFlagSet("bucket "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", "", "key prefix players read (default push.prefix)")
	create := fs.Bool("create", false, "setup: create the bucket first if it does not exist")
	publicRead := fs.Bool("public-read", true, "setup: add the public-read policy statement")
	cors := fs.Bool("cors", true, "setup: add the CORS rule")
	cfg, err := loadConfig(fs, args[1:], nil)
	if err != nil {
		return err
	}
	if cfg.Storage.Backend != objstore.BackendS3 {
		return fmt.Errorf("bucket: storage.backend is %q, not s3: a local directory is read through the web server "+
			"that serves it, which decides who may read it and sends the CORS headers", cfg.Storage.Backend)
	}
	if cfg.Storage.Bucket == "" {
		return errors.New("bucket: storage.bucket is empty")
	}
	p := cfg.Push.Prefix
	if *prefix != "" {
		p = *prefix
	}
	p = strings.Trim(p, "/")
	st, err := objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: cfg.Storage.Endpoint, Region: cfg.Storage.Region, Bucket: cfg.Storage.Bucket, PathStyle: cfg.Storage.PathStyle,
		AccessKey: cfg.Storage.AccessKeyID, SecretKey: cfg.Storage.SecretAccessKey,
	})
	if err != nil {
		return err
	}
	if action == "setup" {
		if err := setupBucket(ctx, st, cfg, p, *create, *publicRead, *cors, stdout); err != nil {
			return err
		}
	}
	where := strings.TrimSuffix(st.PublicURL(path.Join(p, "x")), "x")
	if err := st.CheckPublic(ctx, p); err != nil {
		fmt.Fprintf(stdout, "not playable: %s…\n", where)
		return err
	}
	fmt.Fprintf(stdout, "playable: players read %s… without credentials, browsers from any origin\n", where)
	return nil
}

func setupBucket(ctx context.Context, st *objstore.S3, cfg config.Config, prefix string, create, publicRead, cors bool, stdout io.Writer) error {
	if create {
		if err := st.CreateBucket(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bucket %s exists\n", cfg.Storage.Bucket)
	}
	if publicRead {
		if err := st.AllowPublicRead(ctx, prefix); err != nil {
			return err
		}
		what := prefix + "/*"
		if prefix == "" {
			what = "every object"
		}
		fmt.Fprintf(stdout, "bucket %s: anyone may GET %s\n", cfg.Storage.Bucket, what)
	}
	if cors {
		if err := st.AllowCORS(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bucket %s: web pages of any origin may GET and HEAD (CORS rule nagare-hls)\n", cfg.Storage.Bucket)
	}
	return nil
}
