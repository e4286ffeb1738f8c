package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

func TestRunInstancesParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   runInstancesInput
		want url.Values
	}{
		{
			name: "minimal",
			in:   runInstancesInput{ImageID: "ami-1", InstanceType: "t3.micro", ClientToken: "edge-1", UserData: "IyE="},
			want: url.Values{
				"ImageId": {"ami-1"}, "InstanceType": {"t3.micro"}, "MinCount": {"1"}, "MaxCount": {"1"},
				"ClientToken": {"edge-1"}, "UserData": {"IyE="},
			},
		},
		{
			name: "everything, profile by name",
			in: runInstancesInput{
				ImageID: "ami-1", InstanceType: "c7g.large", ClientToken: "t", UserData: "u", SubnetID: "subnet-9",
				SecurityGroupIDs: []string{"sg-a", "sg-b"}, KeyName: "ops", InstanceProfileName: "nagare-node",
				Tags: []ec2Tag{{"nagare:node-id", "edge-1"}, {"nagare:group", ""}, {"Name", "edge-1"}},
			},
			want: url.Values{
				"ImageId": {"ami-1"}, "InstanceType": {"c7g.large"}, "MinCount": {"1"}, "MaxCount": {"1"},
				"ClientToken": {"t"}, "UserData": {"u"}, "SubnetId": {"subnet-9"},
				"SecurityGroupId.1": {"sg-a"}, "SecurityGroupId.2": {"sg-b"}, "KeyName": {"ops"},
				"IamInstanceProfile.Name":         {"nagare-node"},
				"TagSpecification.1.ResourceType": {"instance"},
				"TagSpecification.1.Tag.1.Key":    {"nagare:node-id"},
				"TagSpecification.1.Tag.1.Value":  {"edge-1"},
				"TagSpecification.1.Tag.2.Key":    {"nagare:group"},
				"TagSpecification.1.Tag.2.Value":  {""},
				"TagSpecification.1.Tag.3.Key":    {"Name"},
				"TagSpecification.1.Tag.3.Value":  {"edge-1"},
			},
		},
		{
			name: "profile by ARN",
			in:   runInstancesInput{InstanceProfileArn: "arn:aws:iam::1:instance-profile/p"},
			want: url.Values{
				"MinCount": {"1"}, "MaxCount": {"1"}, "IamInstanceProfile.Arn": {"arn:aws:iam::1:instance-profile/p"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.in.params())
		})
	}
}

func TestDescribeInstancesParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filters []ec2Filter
		ids     []string
		max     int32
		token   string
		want    url.Values
	}{
		{name: "nothing", want: url.Values{}},
		{
			name: "filters, page size and token",
			filters: []ec2Filter{
				{Name: "tag:nagare:node-id", Values: []string{"edge 1"}},
				{Name: "instance-state-name", Values: []string{"pending", "running"}},
			},
			max: 1000, token: "tok/+=",
			want: url.Values{
				"Filter.1.Name": {"tag:nagare:node-id"}, "Filter.1.Value.1": {"edge 1"},
				"Filter.2.Name": {"instance-state-name"}, "Filter.2.Value.1": {"pending"}, "Filter.2.Value.2": {"running"},
				"MaxResults": {"1000"}, "NextToken": {"tok/+="},
			},
		},
		{
			name: "instance ids",
			ids:  []string{"i-1", "i-2"},
			want: url.Values{"InstanceId.1": {"i-1"}, "InstanceId.2": {"i-2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, describeInstancesParams(tt.filters, tt.ids, tt.max, tt.token))
		})
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestParseDescribeInstances(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		want      []ec2Instance
		wantToken string
		wantErr   string
	}{
		{
			name: "EC2's answer, two reservations and a next token",
			body: string(readTestdata(t, "describe-instances.xml")),
			want: []ec2Instance{
				{
					InstanceID: "i-1234567890abcdef0", ImageID: "ami-0abcdef1234567890", PrivateIPAddress: "10.0.0.12",
					LaunchTime: "2024-03-01T10:04:05.000Z", State: "running",
					Tags: []ec2Tag{{"nagare:node-id", "edge-1"}, {"nagare:group", "eu-west"}, {"nagare:role", "edge"}, {"Name", "edge-1"}},
				},
				{
					InstanceID: "i-0598c7d356eba48d7", ImageID: "ami-0abcdef1234567890", LaunchTime: "2024-03-01T09:00:00.000Z",
					State: "terminated", StateReason: "Client.UserInitiatedShutdown: User initiated shutdown",
					Tags: []ec2Tag{{"nagare:node-id", "edge-0"}},
				},
			},
			wantToken: "eyJ2IjoiMiIsImMiOiJ0b2tlbiJ9",
		},
		{
			name: "last page, no reservations",
			body: `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>`,
		},
		{name: "empty body", body: "", wantErr: "parsing EC2's DescribeInstancesResponse: EOF (body empty body)"},
		{name: "truncated", body: `<DescribeInstancesResponse><reservationSet><item>`, wantErr: "XML syntax error"},
		{name: "another root", body: `<RunInstancesResponse/>`, wantErr: "root element is <RunInstancesResponse>"},
		{name: "an HTML page", body: `<html><body>502 Bad Gateway</body></html>`, wantErr: "root element is <html>"},
		{name: "not XML", body: `{"instances": []}`, wantErr: `(body "{\"instances\": []}")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, token, err := parseDescribeInstances([]byte(tt.body))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantToken, token)
		})
	}
}

func TestParseRunInstances(t *testing.T) {
	t.Parallel()
	got, err := parseRunInstances(readTestdata(t, "run-instances.xml"))
	require.NoError(t, err)
	require.Equal(t, []ec2Instance{{
		InstanceID: "i-1234567890abcdef0", ImageID: "ami-0abcdef1234567890", PrivateIPAddress: "10.0.0.157",
		LaunchTime: "2024-03-01T10:04:05.000Z", State: "pending", StateReason: "pending",
		Tags: []ec2Tag{{"nagare:node-id", "edge-1"}, {"Name", "edge-1"}},
	}}, got)

	c := &Controller{tagPrefix: "nagare:"}
	inst := c.instance(got[0])
	require.Equal(t, cloud.Instance{
		ID: "i-1234567890abcdef0", NodeID: "edge-1", Address: "10.0.0.157", State: nodemodel.StatePending,
		Image: "ami-0abcdef1234567890", LaunchedAt: time.Date(2024, 3, 1, 10, 4, 5, 0, time.UTC), Reason: "pending",
	}, inst)

	_, err = parseRunInstances([]byte(`<DescribeInstancesResponse/>`))
	require.ErrorContains(t, err, "root element is <DescribeInstancesResponse>")
	require.NoError(t, parseTerminateInstances([]byte(`<TerminateInstancesResponse><instancesSet/></TerminateInstancesResponse>`)))
	require.Error(t, parseTerminateInstances([]byte(`<Response/>`)))
}

func TestLaunchTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2024-03-01T10:04:05.000Z", time.Date(2024, 3, 1, 10, 4, 5, 0, time.UTC)},
		{" 2024-03-01T10:04:05Z\n", time.Date(2024, 3, 1, 10, 4, 5, 0, time.UTC)},
		{"2024-03-01T10:04:05.5+00:00", time.Date(2024, 3, 1, 10, 4, 5, 5e8, time.UTC)},
		{"", time.Time{}},
		{"yesterday", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			i := ec2Instance{LaunchTime: tt.in}
			require.True(t, tt.want.Equal(i.launchTime()), "%v", i.launchTime())
		})
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   apiError
		msg    string
	}{
		{
			name:   "EC2's error",
			status: 400,
			body: `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does not exist</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`,
			want: apiError{Action: "RunInstances", Status: 400, Code: "InvalidAMIID.NotFound",
				Message: "The image id '[ami-1]' does not exist", RequestID: "ea966190-f9aa-478e-9ede-example"},
			msg: "EC2 RunInstances: HTTP 400: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist (request id ea966190-f9aa-478e-9ede-example)",
		},
		{
			name:   "RequestId spelling, throttled",
			status: 503,
			body:   `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestId>r-1</RequestId></Response>`,
			want:   apiError{Action: "RunInstances", Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded.", RequestID: "r-1"},
		},
		{
			name:   "empty body",
			status: 502,
			want:   apiError{Action: "RunInstances", Status: 502, Message: "unexpected response: empty body"},
			msg:    "EC2 RunInstances: HTTP 502: unexpected response: empty body",
		},
		{
			name:   "an HTML page",
			status: 403,
			body:   "<html><body>Forbidden</body></html>",
			want:   apiError{Action: "RunInstances", Status: 403, Message: `unexpected response: "<html><body>Forbidden</body></html>"`},
		},
		{
			name:   "truncated XML",
			status: 500,
			body:   "<Response><Errors><Error><Code>InternalError",
			want:   apiError{Action: "RunInstances", Status: 500, Message: `unexpected response: "<Response><Errors><Error><Code>InternalError"`},
		},
		{
			name:   "a long body is cut",
			status: 500,
			body:   strings.Repeat("x", 10000),
			want:   apiError{Action: "RunInstances", Status: 500, Message: `unexpected response: "` + strings.Repeat("x", 200) + `"…`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseError("RunInstances", tt.status, []byte(tt.body))
			require.Equal(t, tt.want, *got)
			if tt.msg != "" {
				require.Equal(t, tt.msg, got.Error())
			}
		})
	}
}

// fakeEC2 is an httptest server whose answers a test scripts; it records the requests it gets.
type fakeEC2 struct {
	mu       sync.Mutex
	requests []*http.Request
	forms    []url.Values
	answer   func(n int, w http.ResponseWriter) // n counts requests from 0
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, r)
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	f.answer(n, w)
}

func (f *fakeEC2) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func newTestClient(t *testing.T, answer func(n int, w http.ResponseWriter)) (*ec2Client, *fakeEC2) {
	t.Helper()
	f := &fakeEC2{answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &ec2Client{
		httpClient:  srv.Client(),
		endpoint:    srv.URL + "/",
		region:      "eu-west-1",
		creds:       testCreds("AKIDEXAMPLE", "secret", "session-token"),
		signer:      v4.NewSigner(),
		log:         slog.New(slog.DiscardHandler),
		maxAttempts: defaultMaxAttempts,
		maxBody:     defaultMaxBody,
		backoff:     func(int) time.Duration { return time.Millisecond },
	}, f
}

type staticCreds awssdk.Credentials

func (c staticCreds) Retrieve(context.Context) (awssdk.Credentials, error) {
	return awssdk.Credentials(c), nil
}

func testCreds(id, secret, token string) staticCreds {
	return staticCreds{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
}

const describeOK = `<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>`

func ec2Error(status int, code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>`, code)
	}
}

func ok(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { _, _ = io.WriteString(w, body) }
}

// dropConnection closes the connection without an answer: a network error for the client.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestCallSignsTheRequest(t *testing.T) {
	t.Parallel()
	c, f := newTestClient(t, func(int, http.ResponseWriter) {})
	_, err := c.call(t.Context(), "TerminateInstances", url.Values{"InstanceId.1": {"i-1"}})
	require.NoError(t, err)
	require.Equal(t, 1, f.count())
	r, form := f.requests[0], f.forms[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/", r.URL.Path)
	require.Equal(t, "application/x-www-form-urlencoded; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, url.Values{"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {"i-1"}}, form)
	auth := r.Header.Get("Authorization")
	require.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), auth)
	require.Contains(t, auth, "/eu-west-1/ec2/aws4_request")
	require.Contains(t, auth, "SignedHeaders=")
	require.Contains(t, auth, "content-type")
	require.NotEmpty(t, r.Header.Get("X-Amz-Date"))
	require.Equal(t, "session-token", r.Header.Get("X-Amz-Security-Token"))
	require.NotContains(t, auth, "secret")
}

func TestCallRetries(t *testing.T) {
	t.Parallel()
	type step = func(w http.ResponseWriter)
	tests := []struct {
		name      string
		answers   []step // the last one repeats
		wantCalls int
		wantCode  string // "" with wantErr empty: success
		wantErr   string
	}{
		{name: "first time", answers: []step{ok(describeOK)}, wantCalls: 1},
		{name: "503 then OK", answers: []step{ec2Error(503, "Unavailable"), ok(describeOK)}, wantCalls: 2},
		{name: "throttled twice then OK", answers: []step{ec2Error(400, "RequestLimitExceeded"), ec2Error(400, "Throttling"), ok(describeOK)}, wantCalls: 3},
		{name: "network error then OK", answers: []step{dropConnection, ok(describeOK)}, wantCalls: 2},
		{name: "500 every time", answers: []step{ec2Error(500, "InternalError")}, wantCalls: 3, wantCode: "InternalError", wantErr: "(after 3 attempts)"},
		{name: "network error every time", answers: []step{dropConnection}, wantCalls: 3, wantErr: "EC2 DescribeInstances: Post"},
		{name: "invalid parameter is not retried", answers: []step{ec2Error(400, "InvalidParameterValue")}, wantCalls: 1, wantCode: "InvalidParameterValue"},
		{name: "auth failure is not retried", answers: []step{ec2Error(401, "AuthFailure")}, wantCalls: 1, wantCode: "AuthFailure"},
		{name: "an HTML 502 is retried", answers: []step{func(w http.ResponseWriter) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		}}, wantCalls: 3, wantErr: "HTTP 502: unexpected response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, f := newTestClient(t, func(n int, w http.ResponseWriter) {
				tt.answers[min(n, len(tt.answers)-1)](w)
			})
			body, err := c.call(t.Context(), "DescribeInstances", nil)
			require.Equal(t, tt.wantCalls, f.count())
			if tt.wantCode == "" && tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, describeOK, string(body))
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.wantCode, apiCode(err))
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestCallHonoursContext(t *testing.T) {
	t.Parallel()
	c, f := newTestClient(t, func(_ int, w http.ResponseWriter) { ec2Error(503, "Unavailable")(w) })
	c.backoff = func(int) time.Duration { return time.Hour }
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.call(ctx, "DescribeInstances", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "Unavailable", "the error that led to the wait")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, 1, f.count())

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.call(cancelled, "DescribeInstances", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, f.count(), "a cancelled call sends nothing")
}

func TestCallBoundsTheBody(t *testing.T) {
	t.Parallel()
	c, f := newTestClient(t, func(_ int, w http.ResponseWriter) {
		_, _ = io.WriteString(w, "<DescribeInstancesResponse>"+strings.Repeat(" ", 2000)+"</DescribeInstancesResponse>")
	})
	c.maxBody = 1000
	_, err := c.call(t.Context(), "DescribeInstances", nil)
	require.ErrorContains(t, err, "EC2 DescribeInstances: HTTP 200: reading the response: response body larger than 1000 bytes")
	require.Equal(t, 3, f.count(), "a cut answer is retried like a network error")
}

type failingCreds struct{}

func (failingCreds) Retrieve(context.Context) (awssdk.Credentials, error) {
	return awssdk.Credentials{}, errors.New("no EC2 role")
}

func TestCallWithoutCredentials(t *testing.T) {
	t.Parallel()
	c, f := newTestClient(t, func(int, http.ResponseWriter) {})
	c.creds = failingCreds{}
	_, err := c.call(t.Context(), "DescribeInstances", nil)
	require.EqualError(t, err, "EC2 DescribeInstances: retrieving AWS credentials: no EC2 role")
	require.Equal(t, 0, f.count())
}

// TestDescribePaginates: describeInstances sends each page's token for the next and stops on the last,
// or on a token repeated.
func TestDescribePaginates(t *testing.T) {
	t.Parallel()
	page := func(id, next string) string {
		return `<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>` + id +
			`</instanceId></item></instancesSet></item></reservationSet><nextToken>` + next + `</nextToken></DescribeInstancesResponse>`
	}
	pages := []string{page("i-1", "t1"), page("i-2", "t2"), page("i-3", "")}
	c, f := newTestClient(t, func(n int, w http.ResponseWriter) { ok(pages[min(n, 2)])(w) })
	var ids []string
	filters := []ec2Filter{{Name: "tag-key", Values: []string{"k"}}}
	require.NoError(t, c.describeInstances(t.Context(), filters, 5, func(i ec2Instance) { ids = append(ids, i.InstanceID) }))
	require.Equal(t, []string{"i-1", "i-2", "i-3"}, ids)
	require.Equal(t, 3, f.count())
	for i, want := range []string{"", "t1", "t2"} {
		require.Equal(t, want, f.forms[i].Get("NextToken"))
		require.Equal(t, "5", f.forms[i].Get("MaxResults"))
		require.Equal(t, "tag-key", f.forms[i].Get("Filter.1.Name"))
	}

	c, f = newTestClient(t, func(_ int, w http.ResponseWriter) { ok(page("i-1", "same"))(w) })
	ids = nil
	require.NoError(t, c.describeInstances(t.Context(), nil, 5, func(i ec2Instance) { ids = append(ids, i.InstanceID) }))
	require.Len(t, ids, 2)
	require.Equal(t, 2, f.count())
}

func FuzzParseResponse(f *testing.F) {
	for _, name := range []string{"describe-instances.xml", "run-instances.xml"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>`))
	f.Add([]byte(`<DescribeInstancesResponse><reservationSet><item><instancesSet><item><launchTime>x</launchTime></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		c := &Controller{tagPrefix: "nagare:"}
		if insts, _, err := parseDescribeInstances(body); err == nil {
			for _, i := range insts {
				_ = c.instance(i)
			}
		} else {
			require.NotEmpty(t, err.Error())
		}
		if insts, err := parseRunInstances(body); err == nil {
			for _, i := range insts {
				_ = c.instance(i)
			}
		}
		_ = parseTerminateInstances(body)
		e := parseError("RunInstances", 400, body)
		require.NotNil(t, e)
		require.NotEmpty(t, e.Error())
		if e.Code == "" {
			require.LessOrEqual(t, len(e.Message), 1000, "an unparsed body is quoted in part only")
		}
	})
}

func TestJitterBackoff(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 8; n++ {
		ceil := min(maxBackoff, time.Second<<n)
		for range 100 {
			d := jitterBackoff(n)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.Less(t, d, ceil, "retry %d", n)
		}
	}
}
