package aws

// A small client for the three EC2 Query API actions the controller calls. The SDK's service/ec2 package
// covers hundreds of actions and made up a seventh of the nagare binary, whose file pages are most of an
// idle node's memory; this is the part of it the controller uses.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nagare-video/nagare/internal/version"
)

const (
	// ec2APIVersion is the EC2 Query API version; it has not changed since 2016.
	ec2APIVersion = "2016-11-15"
	// defaultMaxAttempts matches the SDK's standard retryer.
	defaultMaxAttempts = 3
	// maxBackoff caps the wait before a retry, as the SDK's standard retryer does.
	maxBackoff = 20 * time.Second
	// defaultMaxBody bounds a response body. A DescribeInstances page of 1000 instances is a few MB.
	defaultMaxBody = 32 << 20
)

// ec2Client signs and sends EC2 Query API requests. It is safe for concurrent use.
type ec2Client struct {
	httpClient  awssdk.HTTPClient
	endpoint    string // the URL requests are POSTed to
	region      string
	creds       awssdk.CredentialsProvider
	signer      *v4.Signer
	log         *slog.Logger
	maxAttempts int
	maxBody     int64
	// backoff is the wait before retry number n (1 for the first retry); tests shorten it.
	backoff func(n int) time.Duration
}

// jitterBackoff waits a random time below 2^n seconds, at most maxBackoff: the SDK's exponential jitter
// backoff.
func jitterBackoff(n int) time.Duration {
	ceil := maxBackoff
	if n < 5 {
		ceil = min(maxBackoff, time.Second<<n)
	}
	return rand.N(ceil)
}

// apiError is an error EC2 answered with.
type apiError struct {
	Action    string
	Status    int // HTTP status
	Code      string
	Message   string
	RequestID string
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "EC2 %s: HTTP %d", e.Action, e.Status)
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// retryableCodes are the error codes the SDK's standard retryer retries whatever the HTTP status:
// throttling and transient ones.
var retryableCodes = map[string]bool{
	"RequestLimitExceeded":                   true,
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
	"BandwidthLimitExceeded":                 true,
	"LimitExceededException":                 true,
	"RequestThrottled":                       true,
	"SlowDown":                               true,
	"PriorRequestNotComplete":                true,
	"EC2ThrottledException":                  true,
	"RequestTimeout":                         true,
	"RequestTimeoutException":                true,
}

func (e *apiError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || retryableCodes[e.Code]
}

// call sends one action with its parameters and returns the body of EC2's 200 answer. Server errors,
// throttling and network errors are retried up to maxAttempts in all; an error EC2 answered with is an
// *apiError.
func (c *ec2Client) call(ctx context.Context, action string, params url.Values) ([]byte, error) {
	form := url.Values{"Action": {action}, "Version": {ec2APIVersion}}
	for k, v := range params {
		form[k] = v
	}
	body := form.Encode()
	sum := sha256.Sum256([]byte(body))
	payloadHash := hex.EncodeToString(sum[:])

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("EC2 %s: %w", action, err)
		}
		out, err := c.send(ctx, action, body, payloadHash)
		if err == nil {
			return out, nil
		}
		var ae *apiError
		var nonRetryable *permanentError
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("EC2 %s: %w", action, ctx.Err())
		case errors.As(err, &nonRetryable):
			return nil, nonRetryable.err
		case errors.As(err, &ae) && !ae.retryable():
			return nil, err
		case attempt >= c.maxAttempts:
			return nil, fmt.Errorf("%w (after %d attempts)", err, attempt)
		}
		wait := c.backoff(attempt)
		c.log.Debug("retrying EC2 request", "action", action, "attempt", attempt+1, "wait", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("EC2 %s: %w (waiting to retry after: %w)", action, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// permanentError is a failure that a retry cannot mend (no credentials, a request that cannot be built).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// send makes one attempt.
func (c *ec2Client) send(ctx context.Context, action, body, payloadHash string) ([]byte, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, &permanentError{fmt.Errorf("EC2 %s: retrieving AWS credentials: %w", action, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return nil, &permanentError{fmt.Errorf("EC2 %s: %w", action, err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "nagare/"+version.Version)
	if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, "ec2", c.region, time.Now()); err != nil {
		return nil, &permanentError{fmt.Errorf("EC2 %s: signing the request: %w", action, err)}
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("EC2 %s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := readBounded(resp.Body, c.maxBody)
	if err != nil {
		return nil, fmt.Errorf("EC2 %s: HTTP %d: reading the response: %w", action, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, parseError(action, resp.StatusCode, data)
	}
	return data, nil
}

// readBounded reads r to its end, failing if it holds more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response body larger than %d bytes", limit)
	}
	return data, nil
}

// parseError makes the *apiError for a non-200 answer. EC2 answers
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>; a body that is not
// that (a proxy's page, a truncated answer) still gives an *apiError, with an excerpt as the message.
func parseError(action string, status int, body []byte) *apiError {
	var doc struct {
		XMLName xml.Name
		Errors  []struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Errors>Error"`
		RequestID    string `xml:"RequestID"`
		RequestIDAlt string `xml:"RequestId"` // the spelling some EC2-compatible servers use
	}
	e := &apiError{Action: action, Status: status}
	if err := xml.Unmarshal(body, &doc); err != nil || doc.XMLName.Local != "Response" || len(doc.Errors) == 0 {
		e.Message = "unexpected response: " + excerpt(body)
		return e
	}
	e.Code = strings.TrimSpace(doc.Errors[0].Code)
	e.Message = strings.TrimSpace(doc.Errors[0].Message)
	e.RequestID = strings.TrimSpace(cmp.Or(doc.RequestID, doc.RequestIDAlt))
	return e
}

// excerpt quotes the start of a body for an error message.
func excerpt(body []byte) string {
	const n = 200
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "empty body"
	}
	if len(body) > n {
		return strconv.Quote(string(body[:n])) + "…"
	}
	return strconv.Quote(string(body))
}

// Requests.

// ec2Tag is a tag on an instance.
type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// ec2Filter is a DescribeInstances filter.
type ec2Filter struct {
	Name   string
	Values []string
}

// runInstancesInput is the part of RunInstances the controller uses; empty fields are not sent.
type runInstancesInput struct {
	ImageID             string
	InstanceType        string
	ClientToken         string
	UserData            string // base64
	SubnetID            string
	SecurityGroupIDs    []string
	KeyName             string
	InstanceProfileArn  string
	InstanceProfileName string
	Tags                []ec2Tag // on the instance
}

// params flattens the input the way the EC2 Query protocol does (lists numbered from 1).
func (in *runInstancesInput) params() url.Values {
	v := url.Values{"MinCount": {"1"}, "MaxCount": {"1"}}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("ImageId", in.ImageID)
	set("InstanceType", in.InstanceType)
	set("ClientToken", in.ClientToken)
	set("UserData", in.UserData)
	set("SubnetId", in.SubnetID)
	set("KeyName", in.KeyName)
	set("IamInstanceProfile.Arn", in.InstanceProfileArn)
	set("IamInstanceProfile.Name", in.InstanceProfileName)
	addList(v, "SecurityGroupId", in.SecurityGroupIDs)
	if len(in.Tags) > 0 {
		v.Set("TagSpecification.1.ResourceType", "instance")
		for i, t := range in.Tags {
			p := "TagSpecification.1.Tag." + strconv.Itoa(i+1)
			v.Set(p+".Key", t.Key)
			v.Set(p+".Value", t.Value)
		}
	}
	return v
}

// describeInstancesParams flattens a DescribeInstances request.
func describeInstancesParams(filters []ec2Filter, instanceIDs []string, maxResults int32, nextToken string) url.Values {
	v := url.Values{}
	for i, f := range filters {
		p := "Filter." + strconv.Itoa(i+1)
		v.Set(p+".Name", f.Name)
		addList(v, p+".Value", f.Values)
	}
	addList(v, "InstanceId", instanceIDs)
	if maxResults > 0 {
		v.Set("MaxResults", strconv.Itoa(int(maxResults)))
	}
	if nextToken != "" {
		v.Set("NextToken", nextToken)
	}
	return v
}

func addList(v url.Values, prefix string, items []string) {
	for i, s := range items {
		v.Set(prefix+"."+strconv.Itoa(i+1), s)
	}
}

// Responses.

// ec2Instance is the part of an instance in EC2's answers the controller reads.
type ec2Instance struct {
	InstanceID       string   `xml:"instanceId"`
	ImageID          string   `xml:"imageId"`
	PrivateIPAddress string   `xml:"privateIpAddress"`
	LaunchTime       string   `xml:"launchTime"`
	State            string   `xml:"instanceState>name"`
	StateReason      string   `xml:"stateReason>message"`
	Tags             []ec2Tag `xml:"tagSet>item"`
}

// launchTime parses the launch time (ISO 8601); an instance without one, or with one EC2 never
// sends, gets the zero time.
func (i *ec2Instance) launchTime() time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(i.LaunchTime))
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseRunInstances reads a RunInstancesResponse.
func parseRunInstances(body []byte) ([]ec2Instance, error) {
	var doc struct {
		XMLName   xml.Name
		Instances []ec2Instance `xml:"instancesSet>item"`
	}
	if err := decodeResponse(body, "RunInstancesResponse", &doc, &doc.XMLName); err != nil {
		return nil, err
	}
	return doc.Instances, nil
}

// parseDescribeInstances reads a DescribeInstancesResponse: its instances, across reservations, and the
// token of the next page ("" on the last).
func parseDescribeInstances(body []byte) ([]ec2Instance, string, error) {
	var doc struct {
		XMLName      xml.Name
		Reservations []struct {
			Instances []ec2Instance `xml:"instancesSet>item"`
		} `xml:"reservationSet>item"`
		NextToken string `xml:"nextToken"`
	}
	if err := decodeResponse(body, "DescribeInstancesResponse", &doc, &doc.XMLName); err != nil {
		return nil, "", err
	}
	var out []ec2Instance
	for _, r := range doc.Reservations {
		out = append(out, r.Instances...)
	}
	return out, strings.TrimSpace(doc.NextToken), nil
}

// parseTerminateInstances checks a TerminateInstancesResponse; the controller needs nothing from it.
func parseTerminateInstances(body []byte) error {
	var doc struct{ XMLName xml.Name }
	return decodeResponse(body, "TerminateInstancesResponse", &doc, &doc.XMLName)
}

// decodeResponse unmarshals body into doc and checks that its root element is root (in any namespace),
// so that another service's answer at the endpoint is an error rather than an empty result.
func decodeResponse(body []byte, root string, doc any, name *xml.Name) error {
	if err := xml.Unmarshal(body, doc); err != nil {
		return fmt.Errorf("parsing EC2's %s: %w (body %s)", root, err, excerpt(body))
	}
	if name.Local != root {
		return fmt.Errorf("parsing EC2's %s: root element is <%s> (body %s)", root, name.Local, excerpt(body))
	}
	return nil
}

// The three actions.

func (c *ec2Client) runInstances(ctx context.Context, in *runInstancesInput) ([]ec2Instance, error) {
	body, err := c.call(ctx, "RunInstances", in.params())
	if err != nil {
		return nil, err
	}
	return parseRunInstances(body)
}

func (c *ec2Client) terminateInstances(ctx context.Context, ids []string) error {
	v := url.Values{}
	addList(v, "InstanceId", ids)
	body, err := c.call(ctx, "TerminateInstances", v)
	if err != nil {
		return err
	}
	return parseTerminateInstances(body)
}

// describeInstances calls fn for each instance the filters match, page by page.
func (c *ec2Client) describeInstances(ctx context.Context, filters []ec2Filter, pageSize int32, fn func(ec2Instance)) error {
	token := ""
	for {
		body, err := c.call(ctx, "DescribeInstances", describeInstancesParams(filters, nil, pageSize, token))
		if err != nil {
			return err
		}
		instances, next, err := parseDescribeInstances(body)
		if err != nil {
			return err
		}
		for _, i := range instances {
			fn(i)
		}
		if next == "" || next == token { // a repeated token would loop for ever
			return nil
		}
		token = next
	}
}
