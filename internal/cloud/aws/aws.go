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
	"net/url"
	"slices"
	"strings"
	"unicode"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

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
	client          *ec2.Client
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
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: %s=%q is not an http(s) URL", cloud.ErrSettings, settingEndpoint, endpoint)
		}
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
	client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = awssdk.String(endpoint)
		}
	})
	return &Controller{
		client:          client,
		log:             cloud.Logger(logger, Name).With("region", awsCfg.Region),
		subnetID:        s.Get(settingSubnetID, ""),
		securityGroups:  groups,
		keyName:         s.Get(settingKeyName, ""),
		instanceProfile: s.Get(settingInstanceProfile, ""),
		tagPrefix:       prefix,
		pageSize:        1000,
	}, nil
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

	in := &ec2.RunInstancesInput{
		ImageId:      awssdk.String(spec.Image),
		InstanceType: types.InstanceType(spec.InstanceType),
		MinCount:     awssdk.Int32(1),
		MaxCount:     awssdk.Int32(1),
		ClientToken:  awssdk.String(clientToken(spec.NodeID)),
		UserData:     awssdk.String(base64.StdEncoding.EncodeToString([]byte(script))),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeInstance,
			Tags: []types.Tag{
				{Key: awssdk.String(c.tagPrefix + tagNodeID), Value: awssdk.String(spec.NodeID)},
				{Key: awssdk.String(c.tagPrefix + tagGroup), Value: awssdk.String(spec.Group)},
				{Key: awssdk.String(c.tagPrefix + tagRole), Value: awssdk.String(string(spec.Role))},
				{Key: awssdk.String("Name"), Value: awssdk.String(spec.NodeID)},
			},
		}},
	}
	if subnet := propOr(spec.Properties, propSubnetID, c.subnetID); subnet != "" {
		in.SubnetId = awssdk.String(subnet)
	}
	if len(c.securityGroups) > 0 {
		in.SecurityGroupIds = c.securityGroups
	}
	if c.keyName != "" {
		in.KeyName = awssdk.String(c.keyName)
	}
	if p := propOr(spec.Properties, propInstanceProfile, c.instanceProfile); p != "" {
		if strings.HasPrefix(p, "arn:") {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: awssdk.String(p)}
		} else {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: awssdk.String(p)}
		}
	}

	out, err := c.client.RunInstances(ctx, in)
	if err != nil {
		if invalidLaunch(err) {
			return cloud.Instance{}, fmt.Errorf("%w: launching node %q: %w", cloud.ErrInvalidSpec, spec.NodeID, err)
		}
		return cloud.Instance{}, fmt.Errorf("launching node %q: %w", spec.NodeID, err)
	}
	if len(out.Instances) == 0 {
		return cloud.Instance{}, fmt.Errorf("launching node %q: EC2 returned no instance", spec.NodeID)
	}
	inst := c.instance(out.Instances[0])
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
	err := c.describe(ctx, []types.Filter{
		{Name: awssdk.String("tag:" + c.tagPrefix + tagNodeID), Values: []string{nodeID}},
		{Name: awssdk.String("instance-state-name"), Values: []string{
			string(types.InstanceStateNamePending), string(types.InstanceStateNameRunning),
			string(types.InstanceStateNameStopping), string(types.InstanceStateNameStopped),
		}},
	}, func(i types.Instance) { ids = append(ids, awssdk.ToString(i.InstanceId)) })
	if err != nil {
		return fmt.Errorf("finding node %q's instances: %w", nodeID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := c.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
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
	err := c.describe(ctx, []types.Filter{
		{Name: awssdk.String("tag-key"), Values: []string{c.tagPrefix + tagNodeID}},
	}, func(i types.Instance) { out = append(out, c.instance(i)) })
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

// describe calls fn for each instance the filters match, page by page.
func (c *Controller) describe(ctx context.Context, filters []types.Filter, fn func(types.Instance)) error {
	p := ec2.NewDescribeInstancesPaginator(c.client, &ec2.DescribeInstancesInput{
		Filters:    filters,
		MaxResults: awssdk.Int32(c.pageSize),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				fn(i)
			}
		}
	}
	return nil
}

// instance maps an EC2 instance onto a cloud.Instance.
func (c *Controller) instance(i types.Instance) cloud.Instance {
	out := cloud.Instance{
		ID:         awssdk.ToString(i.InstanceId),
		Address:    awssdk.ToString(i.PrivateIpAddress),
		LaunchedAt: awssdk.ToTime(i.LaunchTime),
		State:      nodemodel.StatePending,
		Image:      awssdk.ToString(i.ImageId),
	}
	for _, t := range i.Tags {
		switch awssdk.ToString(t.Key) {
		case c.tagPrefix + tagNodeID:
			out.NodeID = awssdk.ToString(t.Value)
		case c.tagPrefix + tagGroup:
			out.Group = awssdk.ToString(t.Value)
		case c.tagPrefix + tagRole:
			out.Role = nodemodel.Role(awssdk.ToString(t.Value))
		}
	}
	if i.State != nil {
		out.State = mapState(i.State.Name)
	}
	if i.StateReason != nil {
		out.Reason = awssdk.ToString(i.StateReason.Message)
	}
	return out
}

// mapState maps an EC2 instance state onto the cloud states. A stopped instance counts as terminated: the
// node in it is gone and the controller never starts it again. An unknown state is taken as pending, so
// that the manager's own launch timeout decides.
func mapState(s types.InstanceStateName) nodemodel.State {
	switch s {
	case types.InstanceStateNameRunning:
		return nodemodel.StateRunning
	case types.InstanceStateNameStopping, types.InstanceStateNameShuttingDown:
		return nodemodel.StateTerminating
	case types.InstanceStateNameStopped, types.InstanceStateNameTerminated:
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
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
