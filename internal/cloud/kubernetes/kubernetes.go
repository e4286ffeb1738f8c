// Package kubernetes is the cloud controller that runs each node as a Pod, its cluster secret in a Secret
// of its own.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Name is the controller's registered name.
const Name = "kubernetes"

const (
	containerName = "nagare"
	// secretKey is the key of the cluster secret in a node's Secret.
	secretKey = "cluster-secret"
	// nodeSelectorProperty prefixes the launch properties that become nodeSelector entries.
	nodeSelectorProperty = "nodeSelector."
)

// settingKeys are the settings New understands; any other is a mistake worth an error.
var settingKeys = []string{
	"namespace", "kubeconfig", "serviceAccount", "imagePullPolicy", "cpu", "memory", "labelPrefix", "stopTimeout",
	"hostNetwork", "antiAffinity", "drainTimeout",
}

// Anti-affinity modes: how strictly node pods keep to one per Kubernetes node.
const (
	antiAffinityNone      = "none"
	antiAffinityPreferred = "preferred"
	antiAffinityRequired  = "required"
)

// hostnameTopology is the well-known label that makes "one per Kubernetes node" of an anti-affinity.
const hostnameTopology = "kubernetes.io/hostname"

// podIPVar is the container variable the pod's IP address is put in (the downward API), for the
// addresses the node advertises. It is not a NAGARE_ variable: nagare refuses those it does not know.
const podIPVar = "POD_IP"

func init() {
	cloud.Register(Name, func(s cloud.Settings, o cloud.Options) (cloud.Controller, error) {
		cs, err := clientset(s)
		if err != nil {
			return nil, err
		}
		return New(cs, s, o.Log)
	})
}

var _ cloud.Controller = (*Controller)(nil)

// Controller launches nodes as pods in one namespace. It keeps no state: the pods' labels are the record,
// so a restarted manager lists the nodes an earlier one launched.
type Controller struct {
	client         kubernetes.Interface
	namespace      string
	serviceAccount string
	pullPolicy     corev1.PullPolicy
	requests       corev1.ResourceList
	prefix         string // of the label and annotation keys, "nagare.video/"
	grace          int64  // terminationGracePeriodSeconds: drainTimeout + stopTimeout
	hostNetwork    bool
	antiAffinity   string        // antiAffinityNone, antiAffinityPreferred or antiAffinityRequired
	drain          time.Duration // the preStop hook's wait for the node to empty; 0: no hook
	log            *slog.Logger
}

// New makes a controller that talks to the cluster through client (a real clientset, or client-go's
// fake in tests), from settings: namespace, serviceAccount, imagePullPolicy, cpu, memory, labelPrefix,
// stopTimeout, hostNetwork, antiAffinity and drainTimeout; kubeconfig is read only by the registered
// factory. It logs through log, scoped with cloud.Logger (nil: nowhere).
func New(client kubernetes.Interface, s cloud.Settings, log *slog.Logger) (*Controller, error) {
	if err := s.Only(settingKeys...); err != nil {
		return nil, err
	}
	c := &Controller{
		client:         client,
		namespace:      s.Get("namespace", "default"),
		serviceAccount: s.Get("serviceAccount", ""),
		pullPolicy:     corev1.PullPolicy(s.Get("imagePullPolicy", "")),
		prefix:         s.Get("labelPrefix", "nagare.video/"),
		log:            cloud.Logger(log, Name),
	}
	if errs := validation.IsDNS1123Label(c.namespace); len(errs) > 0 {
		return nil, fmt.Errorf("%w: namespace=%q: %s", cloud.ErrSettings, c.namespace, strings.Join(errs, "; "))
	}
	if c.serviceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(c.serviceAccount); len(errs) > 0 {
			return nil, fmt.Errorf("%w: serviceAccount=%q: %s", cloud.ErrSettings, c.serviceAccount, strings.Join(errs, "; "))
		}
	}
	switch c.pullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return nil, fmt.Errorf("%w: imagePullPolicy=%q is not Always, IfNotPresent or Never", cloud.ErrSettings, c.pullPolicy)
	}
	if !strings.HasSuffix(c.prefix, "/") {
		c.prefix += "/"
	}
	if errs := validation.IsQualifiedName(c.prefix + "node-id"); len(errs) > 0 {
		return nil, fmt.Errorf("%w: labelPrefix=%q does not make label keys: %s", cloud.ErrSettings, c.prefix, strings.Join(errs, "; "))
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		v := s.Get(string(r), "")
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("%w: %s=%q is not a positive quantity like 500m or 256Mi", cloud.ErrSettings, r, v)
		}
		if c.requests == nil {
			c.requests = corev1.ResourceList{}
		}
		c.requests[r] = q
	}
	stop, err := s.Duration("stopTimeout", 30*time.Second)
	if err != nil {
		return nil, err
	}
	if c.drain, err = s.Duration("drainTimeout", 0); err != nil {
		return nil, err
	}
	if c.drain > nodeapi.MaxDrainWait {
		return nil, fmt.Errorf("%w: drainTimeout=%s is above %s", cloud.ErrSettings, c.drain, nodeapi.MaxDrainWait)
	}
	// the kubelet counts the preStop hook's time in the grace period: SIGTERM must still leave stopTimeout
	c.grace = int64(math.Ceil((c.drain + stop).Seconds()))
	if c.hostNetwork, err = strconv.ParseBool(s.Get("hostNetwork", "false")); err != nil {
		return nil, fmt.Errorf("%w: hostNetwork=%q is not true or false", cloud.ErrSettings, s["hostNetwork"])
	}
	// on the host's network two nodes on one machine would want the same ports
	def := antiAffinityNone
	if c.hostNetwork {
		def = antiAffinityRequired
	}
	switch c.antiAffinity = s.Get("antiAffinity", def); c.antiAffinity {
	case antiAffinityNone, antiAffinityPreferred, antiAffinityRequired:
	default:
		return nil, fmt.Errorf("%w: antiAffinity=%q is not none, preferred or required", cloud.ErrSettings, c.antiAffinity)
	}
	return c, nil
}

// clientset builds a clientset from the kubeconfig setting, else the in-cluster config, else $KUBECONFIG or
// ~/.kube/config.
func clientset(s cloud.Settings) (kubernetes.Interface, error) {
	cfg, err := restConfig(s.Get("kubeconfig", ""))
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes client: %w", cloud.ErrSettings, err)
	}
	return cs, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("%w: kubeconfig=%q: %w", cloud.ErrSettings, kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("%w: in-cluster config: %w", cloud.ErrSettings, err)
	}
	cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: not in a cluster, and no usable kubeconfig in $KUBECONFIG or ~/.kube/config "+
			"(set kubeconfig): %w", cloud.ErrSettings, err)
	}
	return cfg, nil
}

// Name implements cloud.Controller.
func (c *Controller) Name() string { return Name }

// Launch creates the node's Secret (when the spec carries a cluster secret) and its Pod, and returns the
// pending instance. The image must be pullable by the cluster; imagePullPolicy says when it is pulled.
func (c *Controller) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	if spec.Image == "" {
		return cloud.Instance{}, fmt.Errorf("%w: no image", cloud.ErrInvalidSpec)
	}
	selector, err := nodeSelector(spec.Properties)
	if err != nil {
		return cloud.Instance{}, err
	}
	name := podName(spec.NodeID)
	secret, withSecret := spec.Env[cloud.EnvClusterSecret]
	createdSecret := false
	if withSecret {
		if createdSecret, err = c.putSecret(ctx, name, spec, secret); err != nil {
			return cloud.Instance{}, err
		}
	}
	pod, err := c.client.CoreV1().Pods(c.namespace).Create(ctx, c.pod(name, spec, selector, withSecret), metav1.CreateOptions{})
	if err != nil {
		// A pod that already exists uses the secret; one that could not be made leaves it orphaned.
		if createdSecret {
			c.deleteSecret(context.WithoutCancel(ctx), name)
		}
		return cloud.Instance{}, fmt.Errorf("creating pod %s/%s for node %s: %w", c.namespace, name, spec.NodeID, err)
	}
	if withSecret {
		c.ownSecret(ctx, pod)
	}
	c.log.Info("node launched", "node", spec.NodeID, "pod", pod.Name, "namespace", c.namespace, "role", spec.Role,
		"group", spec.Group, "image", spec.Image)
	return c.instance(pod), nil
}

// nodeSelector collects the nodeSelector.<key> properties.
func nodeSelector(props map[string]string) (map[string]string, error) {
	var out map[string]string
	for k, v := range props {
		key, ok := strings.CutPrefix(k, nodeSelectorProperty)
		if !ok {
			continue
		}
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("%w: property %s: %s", cloud.ErrInvalidSpec, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("%w: property %s=%q: %s", cloud.ErrInvalidSpec, k, v, strings.Join(errs, "; "))
		}
		if out == nil {
			out = map[string]string{}
		}
		out[key] = v
	}
	return out, nil
}

// putSecret creates the node's Secret, or updates it when a pod of the same node id was launched before;
// created says which.
func (c *Controller) putSecret(ctx context.Context, pod string, spec cloud.Spec, value string) (created bool, err error) {
	api := c.client.CoreV1().Secrets(c.namespace)
	s := &corev1.Secret{
		ObjectMeta: c.meta(secretName(pod), spec),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{secretKey: []byte(value)},
	}
	_, err = api.Create(ctx, s, metav1.CreateOptions{})
	if err == nil {
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("creating secret %s/%s for node %s: %w", c.namespace, s.Name, spec.NodeID, err)
	}
	old, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading secret %s/%s for node %s: %w", c.namespace, s.Name, spec.NodeID, err)
	}
	old.Labels, old.Annotations, old.Type, old.Data, old.StringData = s.Labels, s.Annotations, s.Type, s.Data, nil
	// an earlier pod's ownership would let the garbage collector delete the secret the new pod needs
	old.OwnerReferences = nil
	if _, err := api.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("updating secret %s/%s for node %s: %w", c.namespace, s.Name, spec.NodeID, err)
	}
	return false, nil
}

// ownSecret makes the pod the owner of its Secret, so that the cluster's garbage collector deletes the
// Secret with a pod deleted behind our back (kubectl delete pod). Terminate deletes it anyway, so a failure
// here is only logged.
func (c *Controller) ownSecret(ctx context.Context, pod *corev1.Pod) {
	if pod.UID == "" {
		return // an owner reference needs the UID
	}
	api := c.client.CoreV1().Secrets(c.namespace)
	name := secretName(pod.Name)
	s, err := api.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}
		_, err = api.Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		c.log.Warn("making the pod own its secret", "pod", pod.Name, "secret", name, "err", err)
	}
}

func (c *Controller) deleteSecret(ctx context.Context, pod string) {
	name := secretName(pod)
	err := c.client.CoreV1().Secrets(c.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		c.log.Warn("deleting a node's secret", "secret", name, "err", err)
	}
}

// meta is the name, labels and annotations of a node's pod and secret. Labels are for selecting and may
// have been shortened to fit; the annotations keep the ids as given.
func (c *Controller) meta(name string, spec cloud.Spec) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: c.namespace,
		Labels: map[string]string{
			c.prefix + "node-id":     labelValue(spec.NodeID),
			c.prefix + "group":       labelValue(spec.Group),
			c.prefix + "role":        labelValue(string(spec.Role)),
			"app.kubernetes.io/name": "nagare",
		},
		Annotations: map[string]string{
			c.prefix + "node-id": spec.NodeID,
			c.prefix + "group":   spec.Group,
			c.prefix + "role":    string(spec.Role),
		},
	}
}

func (c *Controller) pod(name string, spec cloud.Spec, selector map[string]string, withSecret bool) *corev1.Pod {
	env := spec.ContainerEnv()
	httpPort := port(env[cloud.EnvHTTPAddress], 8080)
	scheme := corev1.URISchemeHTTP
	if env[envTLSCertFile] != "" {
		scheme = corev1.URISchemeHTTPS
	}
	// the node advertises the pod's address (the host's, on its network), not the loopback one it sees
	vars := []corev1.EnvVar{{Name: podIPVar, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"},
	}}}
	for _, a := range []struct{ advertise, enabled, listen string }{
		{envAdvertiseRTMP, envRTMPEnabled, cloud.EnvRTMPAddress},
		{envAdvertiseSRT, envSRTEnabled, cloud.EnvSRTAddress},
		{envAdvertiseHTTP, envHTTPEnabled, cloud.EnvHTTPAddress},
	} {
		if _, set := env[a.advertise]; set || env[a.enabled] == "false" {
			continue
		}
		if _, p, err := net.SplitHostPort(env[a.listen]); err == nil {
			env[a.advertise] = "$(" + podIPVar + "):" + p
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k != cloud.EnvClusterSecret {
			vars = append(vars, corev1.EnvVar{Name: k, Value: env[k]})
		}
	}
	if withSecret {
		vars = append(vars, corev1.EnvVar{Name: cloud.EnvClusterSecret, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secretName(name)},
				Key:                  secretKey,
			},
		}})
	}
	var lifecycle *corev1.Lifecycle
	if c.drain > 0 && withSecret {
		// the kubelet's httpGet cannot read a Secret: the header carries the node's own drain token,
		// which drains this node and nothing else
		lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:        nodeapi.PathDrain + "?timeout=" + c.drain.String(),
			Port:        intstr.FromInt32(httpPort),
			Scheme:      scheme,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "Authorization", Value: "Bearer " + nodeapi.DrainToken(spec.Env[cloud.EnvClusterSecret], spec.NodeID)}},
		}}}
	}
	var dns corev1.DNSPolicy
	if c.hostNetwork {
		dns = corev1.DNSClusterFirstWithHostNet // the manager's Service name still resolves
	}
	grace := c.grace
	return &corev1.Pod{
		ObjectMeta: c.meta(name, spec),
		Spec: corev1.PodSpec{
			HostNetwork: c.hostNetwork,
			DNSPolicy:   dns,
			Affinity:    c.affinity(),
			// The autoscaler replaces a dead node under a new id; a restarted one would come back as a
			// node the manager has already written off.
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			ServiceAccountName:            c.serviceAccount,
			NodeSelector:                  selector,
			Containers: []corev1.Container{{
				Name:            containerName,
				Image:           spec.Image,
				ImagePullPolicy: c.pullPolicy,
				Args:            []string{"node"},
				Env:             vars,
				Ports: []corev1.ContainerPort{
					{Name: "rtmp", ContainerPort: port(env[cloud.EnvRTMPAddress], 1935), Protocol: corev1.ProtocolTCP},
					{Name: "srt", ContainerPort: port(env[cloud.EnvSRTAddress], 8890), Protocol: corev1.ProtocolUDP},
					{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
					// one UDP port for every WebRTC session, ICE-TCP on the same number
					{Name: "webrtc", ContainerPort: port(env[cloud.EnvWebRTCAddress], 8189), Protocol: corev1.ProtocolUDP},
					{Name: "webrtc-tcp", ContainerPort: port(env[cloud.EnvWebRTCAddress], 8189), Protocol: corev1.ProtocolTCP},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromInt32(httpPort), Scheme: scheme,
					}},
					PeriodSeconds: 5,
				},
				Lifecycle: lifecycle,
				Resources: corev1.ResourceRequirements{Requests: c.requests},
			}},
		},
	}
}

// Node settings the pod construction reads or sets (see config.EnvName).
const (
	envTLSCertFile   = "NAGARE_TLS_CERT_FILE"
	envAdvertiseRTMP = "NAGARE_CLUSTER_ADVERTISE_RTMP"
	envAdvertiseSRT  = "NAGARE_CLUSTER_ADVERTISE_SRT"
	envAdvertiseHTTP = "NAGARE_CLUSTER_ADVERTISE_HTTP"
	envRTMPEnabled   = "NAGARE_RTMP_ENABLED"
	envSRTEnabled    = "NAGARE_SRT_ENABLED"
	envHTTPEnabled   = "NAGARE_HTTP_ENABLED"
)

// affinity keeps node pods apart, one per Kubernetes node, as the antiAffinity setting says: whatever
// their group or role, since they all want the same ports (WebRTC's UDP port above all).
func (c *Controller) affinity() *corev1.Affinity {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: c.prefix + "node-id", Operator: metav1.LabelSelectorOpExists,
		}}},
		TopologyKey: hostnameTopology,
	}
	switch c.antiAffinity {
	case antiAffinityRequired:
		return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term},
		}}
	case antiAffinityPreferred:
		return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}},
		}}
	}
	return nil
}

// port is the port of a listen address like ":8080", or def when it names none.
func port(addr string, def int32) int32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return def
	}
	return int32(n)
}

// Terminate deletes the node's pod, which gets drainTimeout for its preStop hook and stopTimeout between
// SIGTERM and SIGKILL, and its Secret.
func (c *Controller) Terminate(ctx context.Context, nodeID string) error {
	name := podName(nodeID)
	grace := c.grace
	err := c.client.CoreV1().Pods(c.namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("deleting pod %s/%s of node %s: %w", c.namespace, name, nodeID, err)
	default:
		c.log.Info("node terminating", "node", nodeID, "pod", name, "namespace", c.namespace, "gracePeriod", grace)
	}
	err = c.client.CoreV1().Secrets(c.namespace).Delete(ctx, secretName(name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting secret %s/%s of node %s: %w", c.namespace, secretName(name), nodeID, err)
	}
	return nil
}

// List returns the pods labelled with a node id, by node id; pods that ended stay until deleted.
func (c *Controller) List(ctx context.Context) ([]cloud.Instance, error) {
	pods, err := c.client.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: c.prefix + "node-id"})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", c.namespace, err)
	}
	out := make([]cloud.Instance, 0, len(pods.Items))
	for i := range pods.Items {
		out = append(out, c.instance(&pods.Items[i]))
	}
	slices.SortFunc(out, func(a, b cloud.Instance) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

// instance maps a pod onto the contract's states.
func (c *Controller) instance(p *corev1.Pod) cloud.Instance {
	get := func(key string) string {
		if v, ok := p.Annotations[c.prefix+key]; ok {
			return v
		}
		return p.Labels[c.prefix+key]
	}
	inst := cloud.Instance{
		ID: p.Name, NodeID: get("node-id"), Group: get("group"), Role: nodemodel.Role(get("role")),
		Address: p.Status.PodIP, LaunchedAt: p.CreationTimestamp.Time,
	}
	if len(p.Spec.Containers) > 0 {
		inst.Image = p.Spec.Containers[0].Image
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		inst.State = nodemodel.StateRunning
	case corev1.PodSucceeded, corev1.PodFailed:
		inst.State, inst.Reason = nodemodel.StateTerminated, exitReason(p)
	default: // Pending, Unknown (the kubelet lost touch; it may come back), or not yet set
		inst.State, inst.Reason = nodemodel.StatePending, waitReason(p)
	}
	if p.DeletionTimestamp != nil && inst.State != nodemodel.StateTerminated {
		inst.State = nodemodel.StateTerminating
	}
	return inst
}

// nodeContainer is the status of the node's container, nil before the kubelet reports one.
func nodeContainer(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// exitReason says how a finished pod's node ended: "OOMKilled", "Error: exit code 1", or the pod's own
// reason ("Evicted: …") when the container never ran.
func exitReason(p *corev1.Pod) string {
	if cs := nodeContainer(p); cs != nil && cs.State.Terminated != nil {
		t := cs.State.Terminated
		reason := t.Reason
		if reason == "" {
			reason = "exit code " + strconv.Itoa(int(t.ExitCode))
		}
		if t.Message != "" {
			reason += ": " + t.Message
		}
		return reason
	}
	return join(p.Status.Reason, p.Status.Message)
}

// waitReason says why a pod is not running yet: its container's waiting reason (ErrImagePull,
// ImagePullBackOff, CreateContainerConfigError …), why it is not scheduled, or the pod's own reason.
func waitReason(p *corev1.Pod) string {
	if cs := nodeContainer(p); cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
		return join(cs.State.Waiting.Reason, cs.State.Waiting.Message)
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
			return join(cond.Reason, cond.Message)
		}
	}
	return join(p.Status.Reason, p.Status.Message)
}

func join(reason, message string) string {
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}
