// Package aws is the cloud controller that runs nodes as EC2 instances, one instance per node, found
// again by its node-id tag.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Name is the controller's registered name.
const Name = "aws"

func init() {
	cloud.Register(Name, func(s cloud.Settings, o cloud.Options) (cloud.Controller, error) {
		// The factory gets no context: loading the AWS config reads only the environment and shared files.
		return New(context.Background(), s, o.Log)
	})
}

// Setting keys.
const (
	settingRegion           = "region"
	settingEndpoint         = "endpoint"
	settingAccessKeyID      = "accessKeyID"
	settingSecretAccessKey  = "secretAccessKey"
	settingSubnetID         = "subnetID"
	settingSecurityGroupIDs = "securityGroupIDs"
	settingKeyName          = "keyName"
	settingInstanceProfile  = "instanceProfile"
	settingTagPrefix        = "tagPrefix"
)

var knownSettings = []string{
	settingRegion, settingEndpoint, settingAccessKeyID, settingSecretAccessKey, settingSubnetID,
	settingSecurityGroupIDs, settingKeyName, settingInstanceProfile, settingTagPrefix,
}

// Launch properties (spec.Properties) that override a setting for one launch configuration.
const (
	propSubnetID        = "subnetID"
	propInstanceProfile = "instanceProfile"
)

// DefaultTagPrefix starts the keys of the tags the controller puts on its instances.
const DefaultTagPrefix = "nagare:"

// Tag names after the prefix.
const (
	tagNodeID = "node-id"
	tagGroup  = "group"
	tagRole   = "role"
)

// EC2's limits on a RunInstances client token and a tag key.
const (
	maxClientToken = 64
	maxTagKey      = 128
)

// Controller runs nodes as EC2 instances. It is safe for concurrent use.
type Controller struct {
	client          *ec2Client
	log             *slog.Logger
	subnetID        string
	securityGroups  []string
	keyName         string
	instanceProfile string
	tagPrefix       string
	// pageSize is DescribeInstances' MaxResults (5 to 1000); tests lower it to see pagination.
	pageSize int32
}

var _ cloud.Controller = (*Controller)(nil)

// New makes a controller from its settings (see the package README for the keys). It does not contact
// EC2; credentials that are missing or wrong show on the first call. It logs through logger, scoped with
// cloud.Logger (nil: nowhere).
func New(ctx context.Context, s cloud.Settings, logger *slog.Logger) (*Controller, error) {
	if err := s.Only(knownSettings...); err != nil {
		return nil, err
	}
	endpoint := s.Get(settingEndpoint, "")
	if endpoint != "" && !httpURL(endpoint) {
		return nil, fmt.Errorf("%w: %s=%q is not an http(s) URL", cloud.ErrSettings, settingEndpoint, endpoint)
	}
	keyID, secret := s.Get(settingAccessKeyID, ""), s.Get(settingSecretAccessKey, "")
	if (keyID == "") != (secret == "") {
		return nil, fmt.Errorf("%w: %s and %s go together (or leave both unset for the AWS credential chain)",
			cloud.ErrSettings, settingAccessKeyID, settingSecretAccessKey)
	}
	prefix := s.Get(settingTagPrefix, DefaultTagPrefix)
	if strings.HasPrefix(strings.ToLower(prefix), "aws:") || len(prefix+tagNodeID) > maxTagKey {
		return nil, fmt.Errorf("%w: %s=%q: AWS reserves the aws: prefix and tag keys are at most 128 characters",
			cloud.ErrSettings, settingTagPrefix, prefix)
	}
	var groups []string
	for g := range strings.SplitSeq(s.Get(settingSecurityGroupIDs, ""), ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}

	var opts []func(*config.LoadOptions) error
	if r := s.Get(settingRegion, ""); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if keyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, secret, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: loading AWS config: %w", cloud.ErrSettings, err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("%w: %s is required (or set AWS_REGION)", cloud.ErrSettings, settingRegion)
	}
	if endpoint == "" {
		// As the SDK's EC2 client: the service's own variable, then AWS_ENDPOINT_URL (or the shared
		// config's endpoint_url, which LoadDefaultConfig put in BaseEndpoint), then AWS's regional endpoint.
		if !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
			endpoint = os.Getenv("AWS_ENDPOINT_URL_EC2")
		}
		if endpoint == "" && awsCfg.BaseEndpoint != nil {
			endpoint = *awsCfg.BaseEndpoint
		}
		if endpoint != "" && !httpURL(endpoint) {
			return nil, fmt.Errorf("%w: EC2 endpoint %q from the environment is not an http(s) URL", cloud.ErrSettings, endpoint)
		}
		if endpoint == "" {
			endpoint = regionalEndpoint(awsCfg.Region)
		}
	}
	log := cloud.Logger(logger, Name).With("region", awsCfg.Region)
	client := &ec2Client{
		httpClient:  awsCfg.HTTPClient,
		endpoint:    endpoint,
		region:      awsCfg.Region,
		creds:       awsCfg.Credentials,
		signer:      v4.NewSigner(),
		log:         log,
		maxAttempts: defaultMaxAttempts,
		maxBody:     defaultMaxBody,
		backoff:     jitterBackoff,
	}
	if awsCfg.RetryMaxAttempts > 0 { // AWS_MAX_ATTEMPTS
		client.maxAttempts = awsCfg.RetryMaxAttempts
	}
	if client.httpClient == nil {
		client.httpClient = http.DefaultClient
	}
	if client.creds == nil {
		client.creds = awssdk.AnonymousCredentials{}
	}
	return &Controller{
		client:          client,
		log:             log,
		subnetID:        s.Get(settingSubnetID, ""),
		securityGroups:  groups,
		keyName:         s.Get(settingKeyName, ""),
		instanceProfile: s.Get(settingInstanceProfile, ""),
		tagPrefix:       prefix,
		pageSize:        1000,
	}, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// regionalEndpoint is AWS's EC2 endpoint in a region.
func regionalEndpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://ec2." + region + ".amazonaws.com.cn/"
	}
	return "https://ec2." + region + ".amazonaws.com/"
}

// Name returns "aws".
func (c *Controller) Name() string { return Name }

// Launch runs one instance for the node. The node id is the client token, so a retried launch of the
// same node returns the instance the first one started instead of a second one.
func (c *Controller) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	switch {
	case spec.Image == "":
		return cloud.Instance{}, fmt.Errorf("%w: no image (AMI id) for node %q", cloud.ErrInvalidSpec, spec.NodeID)
	case spec.InstanceType == "":
		return cloud.Instance{}, fmt.Errorf("%w: no instance type for node %q", cloud.ErrInvalidSpec, spec.NodeID)
	}
	script, err := bootScript(spec.Env, envDir, nodeCommand)
	if err != nil {
		return cloud.Instance{}, fmt.Errorf("node %q user data: %w", spec.NodeID, err)
	}

	in := &runInstancesInput{
		ImageID:          spec.Image,
		InstanceType:     spec.InstanceType,
		ClientToken:      clientToken(spec.NodeID),
		UserData:         base64.StdEncoding.EncodeToString([]byte(script)),
		SubnetID:         propOr(spec.Properties, propSubnetID, c.subnetID),
		SecurityGroupIDs: c.securityGroups,
		KeyName:          c.keyName,
		Tags: []ec2Tag{
			{Key: c.tagPrefix + tagNodeID, Value: spec.NodeID},
			{Key: c.tagPrefix + tagGroup, Value: spec.Group},
			{Key: c.tagPrefix + tagRole, Value: string(spec.Role)},
			{Key: "Name", Value: spec.NodeID},
		},
	}
	if p := propOr(spec.Properties, propInstanceProfile, c.instanceProfile); strings.HasPrefix(p, "arn:") {
		in.InstanceProfileArn = p
	} else {
		in.InstanceProfileName = p
	}

	out, err := c.client.runInstances(ctx, in)
	if err != nil {
		if invalidLaunch(err) {
			return cloud.Instance{}, fmt.Errorf("%w: launching node %q: %w", cloud.ErrInvalidSpec, spec.NodeID, err)
		}
		return cloud.Instance{}, fmt.Errorf("launching node %q: %w", spec.NodeID, err)
	}
	if len(out) == 0 {
		return cloud.Instance{}, fmt.Errorf("launching node %q: EC2 returned no instance", spec.NodeID)
	}
	inst := c.instance(out[0])
	inst.NodeID, inst.Group, inst.Role = spec.NodeID, spec.Group, spec.Role
	if inst.State == nodemodel.StateTerminated || inst.State == nodemodel.StateTerminating {
		// EC2 keeps a client token for a while after its instance ends and answers a new launch with the
		// old instance: a node id is single use.
		return inst, fmt.Errorf("%w: node id %q already launched instance %s, which is %s",
			cloud.ErrInvalidSpec, spec.NodeID, inst.ID, inst.State)
	}
	c.log.Info("launched instance", "node_id", spec.NodeID, "instance_id", inst.ID, "group", spec.Group,
		"role", spec.Role, "image", spec.Image, "instance_type", spec.InstanceType, "state", inst.State)
	return inst, nil
}

// Terminate terminates the node's instances that are not terminated already; none is not an error.
// EC2 shuts the instance's OS down first, which stops the node with SIGTERM.
func (c *Controller) Terminate(ctx context.Context, nodeID string) error {
	if nodeID == "" {
		return fmt.Errorf("%w: no node id", cloud.ErrInvalidSpec)
	}
	var ids []string
	err := c.client.describeInstances(ctx, []ec2Filter{
		{Name: "tag:" + c.tagPrefix + tagNodeID, Values: []string{nodeID}},
		{Name: "instance-state-name", Values: []string{ec2Pending, ec2Running, ec2Stopping, ec2Stopped}},
	}, c.pageSize, func(i ec2Instance) { ids = append(ids, i.InstanceID) })
	if err != nil {
		return fmt.Errorf("finding node %q's instances: %w", nodeID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := c.client.terminateInstances(ctx, ids); err != nil {
		if apiCode(err) == "InvalidInstanceID.NotFound" {
			return nil // gone between the two calls
		}
		return fmt.Errorf("terminating node %q (%s): %w", nodeID, strings.Join(ids, ", "), err)
	}
	c.log.Info("terminating instances", "node_id", nodeID, "instance_ids", ids)
	return nil
}

// List returns every instance that carries the node-id tag, terminated ones EC2 still shows included.
func (c *Controller) List(ctx context.Context) ([]cloud.Instance, error) {
	var out []cloud.Instance
	err := c.client.describeInstances(ctx, []ec2Filter{
		{Name: "tag-key", Values: []string{c.tagPrefix + tagNodeID}},
	}, c.pageSize, func(i ec2Instance) { out = append(out, c.instance(i)) })
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	slices.SortFunc(out, func(a, b cloud.Instance) int {
		if n := strings.Compare(a.NodeID, b.NodeID); n != 0 {
			return n
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// instance maps an EC2 instance onto a cloud.Instance.
func (c *Controller) instance(i ec2Instance) cloud.Instance {
	out := cloud.Instance{
		ID:         i.InstanceID,
		Address:    i.PrivateIPAddress,
		LaunchedAt: i.launchTime(),
		State:      mapState(i.State),
		Image:      i.ImageID,
		Reason:     i.StateReason,
	}
	for _, t := range i.Tags {
		switch t.Key {
		case c.tagPrefix + tagNodeID:
			out.NodeID = t.Value
		case c.tagPrefix + tagGroup:
			out.Group = t.Value
		case c.tagPrefix + tagRole:
			out.Role = nodemodel.Role(t.Value)
		}
	}
	return out
}

// EC2's instance states.
const (
	ec2Pending      = "pending"
	ec2Running      = "running"
	ec2ShuttingDown = "shutting-down"
	ec2Terminated   = "terminated"
	ec2Stopping     = "stopping"
	ec2Stopped      = "stopped"
)

// mapState maps an EC2 instance state onto the cloud states. A stopped instance counts as terminated: the
// node in it is gone and the controller never starts it again. An unknown state is taken as pending, so
// that the manager's own launch timeout decides.
func mapState(s string) nodemodel.State {
	switch s {
	case ec2Running:
		return nodemodel.StateRunning
	case ec2Stopping, ec2ShuttingDown:
		return nodemodel.StateTerminating
	case ec2Stopped, ec2Terminated:
		return nodemodel.StateTerminated
	default:
		return nodemodel.StatePending
	}
}

// clientToken is the node id, or its SHA-256 when EC2 would not take it (longer than 64 characters or
// not ASCII).
func clientToken(nodeID string) string {
	ascii := !strings.ContainsFunc(nodeID, func(r rune) bool { return r > unicode.MaxASCII })
	if ascii && len(nodeID) <= maxClientToken {
		return nodeID
	}
	sum := sha256.Sum256([]byte(nodeID))
	return hex.EncodeToString(sum[:])
}

func propOr(props map[string]string, key, def string) string {
	if v := props[key]; v != "" {
		return v
	}
	return def
}

// invalidLaunch says whether EC2 refused the launch request itself (an AMI, subnet, group, key or
// parameter it does not accept): retrying the same launch cannot succeed.
func invalidLaunch(err error) bool {
	code := apiCode(err)
	for _, p := range []string{"InvalidAMIID.", "InvalidSubnetID.", "InvalidGroup.", "InvalidGroupId.", "InvalidKeyPair."} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	switch code {
	case "InvalidParameterValue", "InvalidParameterCombination", "InvalidParameter",
		"IdempotentParameterMismatch", "InvalidInstanceType":
		return true
	}
	return false
}

func apiCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
