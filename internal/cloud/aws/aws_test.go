package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// testAMI is one of the AMIs moto ships (moto does not check the id anyway).
const testAMI = "ami-12c6146b"

const testSecret = "cluster-secret-do-not-log-7f3a9c"

var prefixSeq atomic.Int64

// newMotoController returns a controller on the package's moto_server with a tag prefix of its own, so
// that tests sharing the server do not see each other's instances, and the buffer it logs to.
func newMotoController(t *testing.T, extra cloud.Settings) (*Controller, *testutil.LogBuffer) {
	t.Helper()
	s := cloud.Settings{
		"region":          "us-east-1",
		"endpoint":        motoEndpoint(t),
		"accessKeyID":     "test",
		"secretAccessKey": "test",
		"tagPrefix":       fmt.Sprintf("nagare-t%d:", prefixSeq.Add(1)),
	}
	for k, v := range extra {
		s[k] = v
	}
	logs := &testutil.LogBuffer{}
	c, err := New(t.Context(), s, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	return c, logs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testSpec(nodeID string) cloud.Spec {
	return cloud.Spec{
		NodeID: nodeID, Group: "eu-west", Role: "edge", Image: testAMI, InstanceType: "t3.micro",
		Env: map[string]string{
			cloud.EnvClusterSecret: testSecret,
			cloud.EnvNodeID:        nodeID,
			cloud.EnvRole:          "edge",
		},
	}
}

// ec2Call sends an EC2 action through the controller's client and unmarshals the answer into out. The
// tests look at more of EC2 than the controller does: this is how, without the SDK's EC2 client.
func ec2Call(t *testing.T, c *Controller, action string, params url.Values, out any) {
	t.Helper()
	body, err := c.client.call(testCtx(t), action, params)
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(body, out), "%s", body)
}

// testInstance is an instance as DescribeInstances shows it, with the fields the tests check.
type testInstance struct {
	InstanceID   string   `xml:"instanceId"`
	ImageID      string   `xml:"imageId"`
	InstanceType string   `xml:"instanceType"`
	ClientToken  string   `xml:"clientToken"`
	SubnetID     string   `xml:"subnetId"`
	KeyName      string   `xml:"keyName"`
	State        string   `xml:"instanceState>name"`
	Groups       []string `xml:"groupSet>item>groupId"`
	ProfileArn   string   `xml:"iamInstanceProfile>arn"`
	Tags         []ec2Tag `xml:"tagSet>item"`
}

// describe returns the EC2 view of one instance.
func describe(t *testing.T, c *Controller, id string) testInstance {
	t.Helper()
	var out struct {
		Reservations []struct {
			Instances []testInstance `xml:"instancesSet>item"`
		} `xml:"reservationSet>item"`
	}
	ec2Call(t, c, "DescribeInstances", url.Values{"InstanceId.1": {id}}, &out)
	require.Len(t, out.Reservations, 1)
	require.Len(t, out.Reservations[0].Instances, 1)
	return out.Reservations[0].Instances[0]
}

func tagMap(tags []ec2Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	c, logs := newMotoController(t, nil)
	ctx := testCtx(t)
	spec := testSpec("edge-1")
	spec.Env["NAGARE_HOSTILE"] = "it's $HOME\n`id`"

	inst, err := c.Launch(ctx, spec)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(inst.ID, "i-"), inst.ID)
	require.Equal(t, nodemodel.StatePending, inst.State)
	require.Equal(t, "edge-1", inst.NodeID)
	require.Equal(t, "eu-west", inst.Group)
	require.Equal(t, nodemodel.RoleEdge, inst.Role)
	require.NotEmpty(t, inst.Address, "moto gives every instance a private IP")
	require.WithinDuration(t, time.Now(), inst.LaunchedAt, 5*time.Minute)

	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	got := list[0]
	require.Equal(t, inst.ID, got.ID)
	require.Equal(t, "edge-1", got.NodeID)
	require.Equal(t, "eu-west", got.Group)
	require.Equal(t, nodemodel.RoleEdge, got.Role)
	require.Equal(t, nodemodel.StateRunning, got.State, "moto runs an instance at once")
	require.Equal(t, inst.Address, got.Address)
	require.Empty(t, got.Reason)

	// The instance as EC2 has it: tags, the node id as client token.
	ec := describe(t, c, inst.ID)
	require.Equal(t, map[string]string{
		c.tagPrefix + "node-id": "edge-1",
		c.tagPrefix + "group":   "eu-west",
		c.tagPrefix + "role":    "edge",
		"Name":                  "edge-1",
	}, tagMap(ec.Tags))
	require.Equal(t, "edge-1", ec.ClientToken)
	require.Equal(t, "t3.micro", ec.InstanceType)
	require.Equal(t, testAMI, ec.ImageID)

	// The user data is the boot script with the quoted env file.
	var attr struct {
		UserData string `xml:"userData>value"`
	}
	ec2Call(t, c, "DescribeInstanceAttribute", url.Values{"InstanceId": {inst.ID}, "Attribute": {"userData"}}, &attr)
	require.NotEmpty(t, attr.UserData)
	raw, err := base64.StdEncoding.DecodeString(attr.UserData)
	require.NoError(t, err)
	script := string(raw)
	require.True(t, strings.HasPrefix(script, "#!/bin/sh\n"), script)
	require.Contains(t, script, "cat > '/etc/nagare/node.env' <<'NAGARE_ENV_EOF'\n")
	require.Contains(t, script, "\nNAGARE_CLUSTER_SECRET='"+testSecret+"'\n")
	require.Contains(t, script, "\nNAGARE_CLUSTER_NODE_ID='edge-1'\n")
	require.Contains(t, script, "\nNAGARE_HOSTILE='it'\\''s $HOME\n`id`'\n")
	require.Contains(t, script, "\nset -a\n. '/etc/nagare/node.env'\nset +a\nexec nagare node\n")

	require.NoError(t, c.Terminate(ctx, "edge-1"))
	list, err = c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "terminated instances stay listed while EC2 shows them")
	require.Equal(t, inst.ID, list[0].ID)
	require.Equal(t, nodemodel.StateTerminated, list[0].State)
	require.Contains(t, list[0].Reason, "User initiated shutdown")

	// Terminating again finds nothing left to terminate.
	require.NoError(t, c.Terminate(ctx, "edge-1"))

	out := logs.String()
	require.Contains(t, out, "launched instance")
	require.Contains(t, out, inst.ID)
	require.Contains(t, out, "terminating instances")
	require.NotContains(t, out, testSecret)
	require.NotContains(t, out, base64.StdEncoding.EncodeToString(raw[:32]), "user data logged")
}

func TestTerminateUnknown(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx := testCtx(t)
	require.NoError(t, c.Terminate(ctx, "never-launched"))
	require.ErrorIs(t, c.Terminate(ctx, ""), cloud.ErrInvalidSpec)
}

// TestTerminateStopped: a stopped instance lists as terminated (its node is gone) and Terminate still
// terminates it, so that it does not linger stopped.
func TestTerminateStopped(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx := testCtx(t)
	inst, err := c.Launch(ctx, testSpec("origin-1"))
	require.NoError(t, err)
	ec2Call(t, c, "StopInstances", url.Values{"InstanceId.1": {inst.ID}}, &struct{}{})
	require.Equal(t, "stopped", describe(t, c, inst.ID).State)

	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, nodemodel.StateTerminated, list[0].State)
	require.NotEmpty(t, list[0].Reason)

	require.NoError(t, c.Terminate(ctx, "origin-1"))
	require.Equal(t, "terminated", describe(t, c, inst.ID).State)
}

func TestLaunchInvalidSpec(t *testing.T) {
	t.Parallel()
	c, logs := newMotoController(t, nil)
	ctx := testCtx(t)
	tests := []struct {
		name   string
		mutate func(*cloud.Spec)
	}{
		{"no image", func(s *cloud.Spec) { s.Image = "" }},
		{"no instance type", func(s *cloud.Spec) { s.InstanceType = "" }},
		{"no node id", func(s *cloud.Spec) { s.NodeID = "" }},
		{"no role", func(s *cloud.Spec) { s.Role = "" }},
		{"env key not a shell name", func(s *cloud.Spec) { s.Env["BAD KEY"] = testSecret }},
		{"NUL in env value", func(s *cloud.Spec) { s.Env[cloud.EnvClusterSecret] = testSecret + "\x00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec("bad-1")
			tt.mutate(&spec)
			_, err := c.Launch(ctx, spec)
			require.ErrorIs(t, err, cloud.ErrInvalidSpec)
			require.NotContains(t, err.Error(), testSecret)
		})
	}
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "an invalid spec launched something")
	require.NotContains(t, logs.String(), testSecret)
}

// TestLaunchRefusedByEC2: a launch EC2 refuses as invalid wraps ErrInvalidSpec, so that the manager does
// not retry it.
func TestLaunchRefusedByEC2(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)

	c, _ := newMotoController(t, cloud.Settings{"securityGroupIDs": "sg-doesnotexist"})
	_, err := c.Launch(ctx, testSpec("edge-sg"))
	require.ErrorIs(t, err, cloud.ErrInvalidSpec)
	require.Contains(t, err.Error(), "InvalidGroup.NotFound")

	c, _ = newMotoController(t, nil)
	spec := testSpec("edge-subnet")
	spec.Properties = map[string]string{"subnetID": "subnet-doesnotexist"}
	_, err = c.Launch(ctx, spec)
	require.ErrorIs(t, err, cloud.ErrInvalidSpec)
	require.Contains(t, err.Error(), "InvalidSubnetID.NotFound")
	require.NotContains(t, err.Error(), testSecret)
}

// TestLaunchOptions: the settings and launch properties reach RunInstances.
func TestLaunchOptions(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx := testCtx(t)

	var subnets struct {
		Subnets []struct {
			SubnetID string `xml:"subnetId"`
			VpcID    string `xml:"vpcId"`
		} `xml:"subnetSet>item"`
	}
	ec2Call(t, c, "DescribeSubnets", nil, &subnets)
	require.GreaterOrEqual(t, len(subnets.Subnets), 2, "moto's default VPC has a subnet per zone")
	settingSubnet := subnets.Subnets[0].SubnetID
	propSubnet := subnets.Subnets[1].SubnetID
	vpc := subnets.Subnets[0].VpcID

	var groups []string
	for _, name := range []string{"nagare-a", "nagare-b"} {
		var sg struct {
			GroupID string `xml:"groupId"`
		}
		ec2Call(t, c, "CreateSecurityGroup", url.Values{
			"GroupName": {name + c.tagPrefix}, "GroupDescription": {"test"}, "VpcId": {vpc},
		}, &sg)
		require.NotEmpty(t, sg.GroupID)
		groups = append(groups, sg.GroupID)
	}
	profile := "nagare-node-" + strings.TrimSuffix(c.tagPrefix, ":")
	createInstanceProfile(t, motoEndpoint(t), profile)

	c, _ = newMotoController(t, cloud.Settings{
		"subnetID":         settingSubnet,
		"securityGroupIDs": " " + groups[0] + " , " + groups[1] + ",",
		"keyName":          "nagare-key",
	})

	inst, err := c.Launch(ctx, testSpec("relay-1"))
	require.NoError(t, err)
	ec := describe(t, c, inst.ID)
	require.Equal(t, settingSubnet, ec.SubnetID)
	require.Equal(t, "nagare-key", ec.KeyName)
	require.ElementsMatch(t, groups, ec.Groups)
	require.Empty(t, ec.ProfileArn)

	spec := testSpec("relay-2")
	spec.Properties = map[string]string{"subnetID": propSubnet, "instanceProfile": profile, "unrelated": "x"}
	inst, err = c.Launch(ctx, spec)
	require.NoError(t, err)
	ec = describe(t, c, inst.ID)
	require.Equal(t, propSubnet, ec.SubnetID, "the property overrides the setting")
	require.True(t, strings.HasSuffix(ec.ProfileArn, ":instance-profile/"+profile), ec.ProfileArn)
}

// createInstanceProfile makes an IAM instance profile in moto. The module has no IAM client, so this is
// the Query API request signed by hand.
func createInstanceProfile(t *testing.T, endpoint, name string) {
	t.Helper()
	body := url.Values{
		"Action": {"CreateInstanceProfile"}, "Version": {"2010-05-08"}, "InstanceProfileName": {name},
	}.Encode()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, endpoint+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := awssdk.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	require.NoError(t, v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestIdempotentLaunch: a retried launch sends the same client token. EC2 answers it with the first
// instance; moto 5.2 records the token but launches a second instance, so the dedup itself is asserted
// only when the emulator does it.
func TestIdempotentLaunch(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx := testCtx(t)
	first, err := c.Launch(ctx, testSpec("edge-retry"))
	require.NoError(t, err)
	second, err := c.Launch(ctx, testSpec("edge-retry"))
	require.NoError(t, err)

	list, err := c.List(ctx)
	require.NoError(t, err)
	for _, in := range list {
		require.Equal(t, "edge-retry", describe(t, c, in.ID).ClientToken)
	}
	if len(list) == 1 {
		require.Equal(t, first.ID, second.ID)
		return
	}
	t.Logf("the emulator does not honour client tokens: %d instances for one node id (EC2 makes one)", len(list))
	// Terminate cleans up every instance of the node, however many there are.
	require.NoError(t, c.Terminate(ctx, "edge-retry"))
	list, err = c.List(ctx)
	require.NoError(t, err)
	for _, in := range list {
		require.Equal(t, nodemodel.StateTerminated, in.State)
	}
}

// TestListPaginates: List follows DescribeInstances' next tokens.
func TestListPaginates(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx := testCtx(t)
	const n = 7
	for i := range n {
		_, err := c.Launch(ctx, testSpec(fmt.Sprintf("edge-%02d", i)))
		require.NoError(t, err)
	}
	body, err := c.client.call(ctx, "DescribeInstances", describeInstancesParams(
		[]ec2Filter{{Name: "tag-key", Values: []string{c.tagPrefix + tagNodeID}}}, nil, 5, ""))
	require.NoError(t, err)
	_, next, err := parseDescribeInstances(body)
	require.NoError(t, err)
	if next == "" {
		t.Skip("the emulator does not paginate DescribeInstances")
	}

	c.pageSize = 5
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, n)
	for i, in := range list {
		require.Equal(t, fmt.Sprintf("edge-%02d", i), in.NodeID, "sorted by node id")
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	c, _ := newMotoController(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Launch(ctx, testSpec("edge-cancel"))
	require.ErrorIs(t, err, context.Canceled)
	_, err = c.List(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, c.Terminate(ctx, "edge-cancel"), context.Canceled)
}

// TestSettings runs without moto: New contacts nothing. It changes the environment, so not in parallel.
func TestSettings(t *testing.T) {
	// No region from the environment or a shared config file.
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		t.Setenv(k, "")
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)

	ok := cloud.Settings{"region": "eu-west-1"}
	with := func(kv ...string) cloud.Settings {
		s := cloud.Settings{"region": "eu-west-1"}
		for i := 0; i < len(kv); i += 2 {
			s[kv[i]] = kv[i+1]
		}
		return s
	}
	tests := []struct {
		name    string
		s       cloud.Settings
		wantErr string // part of the message; empty means valid
	}{
		{"region only", ok, ""},
		{"everything", with("endpoint", "https://ec2.example.com:4566", "accessKeyID", "AKID", "secretAccessKey", "s",
			"subnetID", "subnet-1", "securityGroupIDs", "sg-1,sg-2", "keyName", "k", "instanceProfile", "p",
			"tagPrefix", "mine/"), ""},
		{"no region", cloud.Settings{}, "region is required"},
		{"unknown key (typo)", with("subnetId", "subnet-1"), `unknown setting "subnetId"`},
		{"endpoint without scheme", with("endpoint", "127.0.0.1:5000"), "endpoint="},
		{"endpoint not http", with("endpoint", "ftp://example.com"), "endpoint="},
		{"access key without secret", with("accessKeyID", "AKID"), "accessKeyID and secretAccessKey"},
		{"secret without access key", with("secretAccessKey", "s"), "accessKeyID and secretAccessKey"},
		{"reserved tag prefix", with("tagPrefix", "AWS:nagare"), "tagPrefix="},
		{"longest tag prefix", with("tagPrefix", strings.Repeat("x", 121)), ""},
		{"tag prefix too long", with("tagPrefix", strings.Repeat("x", 122)), "tagPrefix="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(t.Context(), tt.s, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, "aws", c.Name())
				return
			}
			require.ErrorIs(t, err, cloud.ErrSettings)
			require.Contains(t, err.Error(), tt.wantErr)
			require.NotContains(t, err.Error(), "secretAccessKey=")
		})
	}

	t.Run("defaults", func(t *testing.T) {
		c, err := New(t.Context(), ok, nil)
		require.NoError(t, err)
		require.Equal(t, "nagare:", c.tagPrefix)
		require.Equal(t, "eu-west-1", c.client.region)
		require.Equal(t, "https://ec2.eu-west-1.amazonaws.com/", c.client.endpoint)
		require.Nil(t, c.securityGroups)
	})
	t.Run("region from AWS_REGION", func(t *testing.T) {
		t.Setenv("AWS_REGION", "ap-northeast-1")
		c, err := New(t.Context(), cloud.Settings{}, nil)
		require.NoError(t, err)
		require.Equal(t, "ap-northeast-1", c.client.region)
	})
	t.Run("endpoint", func(t *testing.T) {
		tests := []struct {
			name, setting, env, envEC2, ignore string
			want                               string
		}{
			{name: "regional", want: "https://ec2.eu-west-1.amazonaws.com/"},
			{name: "AWS_ENDPOINT_URL", env: "http://127.0.0.1:4566", want: "http://127.0.0.1:4566"},
			{name: "AWS_ENDPOINT_URL_EC2 first", env: "http://a:1", envEC2: "http://b:2", want: "http://b:2"},
			{name: "the setting first", setting: "https://c:3/", env: "http://a:1", envEC2: "http://b:2", want: "https://c:3/"},
			{name: "ignored", env: "http://a:1", envEC2: "http://b:2", ignore: "true", want: "https://ec2.eu-west-1.amazonaws.com/"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Setenv("AWS_ENDPOINT_URL", tt.env)
				t.Setenv("AWS_ENDPOINT_URL_EC2", tt.envEC2)
				t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", tt.ignore)
				s := with()
				if tt.setting != "" {
					s["endpoint"] = tt.setting
				}
				c, err := New(t.Context(), s, nil)
				require.NoError(t, err)
				require.Equal(t, tt.want, c.client.endpoint)
			})
		}
		t.Setenv("AWS_ENDPOINT_URL_EC2", "localhost:4566")
		_, err := New(t.Context(), ok, nil)
		require.ErrorIs(t, err, cloud.ErrSettings)
		require.ErrorContains(t, err, `EC2 endpoint "localhost:4566"`)
	})
	t.Run("china", func(t *testing.T) {
		c, err := New(t.Context(), cloud.Settings{"region": "cn-north-1"}, nil)
		require.NoError(t, err)
		require.Equal(t, "https://ec2.cn-north-1.amazonaws.com.cn/", c.client.endpoint)
	})
	t.Run("registered", func(t *testing.T) {
		require.Contains(t, cloud.Names(), "aws")
		c, err := cloud.New("aws", ok, cloud.Options{})
		require.NoError(t, err)
		require.Equal(t, "aws", c.Name())
		_, err = cloud.New("aws", cloud.Settings{}, cloud.Options{})
		require.ErrorIs(t, err, cloud.ErrSettings)
	})
}

func TestMapState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ec2  string
		want nodemodel.State
	}{
		{"pending", nodemodel.StatePending},
		{"running", nodemodel.StateRunning},
		{"stopping", nodemodel.StateTerminating},
		{"shutting-down", nodemodel.StateTerminating},
		{"stopped", nodemodel.StateTerminated},
		{"terminated", nodemodel.StateTerminated},
		{"", nodemodel.StatePending},
		{"hibernating", nodemodel.StatePending},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.ec2, func(t *testing.T) {
			require.Equal(t, tt.want, mapState(tt.ec2))
		})
		covered[tt.ec2] = true
	}
	// EC2's instance states (InstanceStateName in the API reference).
	for _, s := range []string{"pending", "running", "shutting-down", "terminated", "stopping", "stopped"} {
		require.True(t, covered[s], "EC2 state %q has no row", s)
	}
}

func TestClientToken(t *testing.T) {
	t.Parallel()
	require.Equal(t, "edge-1", clientToken("edge-1"))
	id64 := strings.Repeat("a", 64)
	require.Equal(t, id64, clientToken(id64))
	long := clientToken(id64 + "b")
	require.Len(t, long, 64)
	require.NotEqual(t, long, clientToken(id64+"c"))
	require.Len(t, clientToken("nœud-1"), 64, "EC2 takes ASCII tokens only")
}

func TestInvalidLaunch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want bool
	}{
		{"InvalidAMIID.NotFound", true},
		{"InvalidAMIID.Malformed", true},
		{"InvalidSubnetID.NotFound", true},
		{"InvalidGroup.NotFound", true},
		{"InvalidKeyPair.NotFound", true},
		{"InvalidParameterValue", true},
		{"IdempotentParameterMismatch", true},
		{"InsufficientInstanceCapacity", false},
		{"RequestLimitExceeded", false},
		{"UnauthorizedOperation", false},
		{"AuthFailure", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := fmt.Errorf("operation error: %w", &apiError{Action: "RunInstances", Status: 400, Code: tt.code})
			require.Equal(t, tt.want, invalidLaunch(err))
		})
	}
	require.False(t, invalidLaunch(context.DeadlineExceeded))
}
