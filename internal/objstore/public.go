package objstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AllowPublicRead sets a bucket policy that lets anyone GET the objects under prefix ("" = the whole
// bucket) without credentials: what a bucket that players or a CDN read live HLS from needs.
func (s *S3) AllowPublicRead(ctx context.Context, prefix string) error {
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*",`+
		`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/%s*"]}]}`, s.bucket, prefix)
	if _, err := s.client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(s.bucket), Policy: aws.String(policy)}); err != nil {
		return fmt.Errorf("setting a public-read policy on bucket %q: %w", s.bucket, err)
	}
	return nil
}
