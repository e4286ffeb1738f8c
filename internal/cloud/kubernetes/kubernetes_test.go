package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

const theSecret = "s3cr3t-cluster-value-0123456789"

// fixture is a controller on a fake clientset, logging into a buffer that tests search for the secret.
type fixture struct {
	cs   *fake.Clientset
	c    *Controller
	logs *bytes.Buffer
}

func newFixture(t *testing.T, s cloud.Settings) *fixture {
	t.Helper()
	f := &fixture{cs: fake.NewClientset(), logs: &bytes.Buffer{}}
	// the API server gives every object a UID; the fake does not
	f.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.UID = k8stypes.UID("uid-" + p.Name)
		return false, nil, nil
	})
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(f.cs, s, log)
	require.NoError(t, err)
	f.c = c
	t.Cleanup(func() {
		require.NotContains(t, f.logs.String(), theSecret, "the cluster secret was logged")
	})
	return f
}

func testSpec(nodeID string) cloud.Spec {
	return cloud.Spec{
		NodeID: nodeID, Group: "eu-edges", Role: "edge", Region: "eu", Image: "ghcr.io/nagare-video/nagare:1.2.3",
		Env: map[string]string{
			cloud.EnvManagerURL:    "http://manager.nagare:9000",
			cloud.EnvClusterSecret: theSecret,
			cloud.EnvNodeID:        nodeID,
			cloud.EnvRole:          "edge",
		},
		Properties: map[string]string{"nodeSelector.nagare.video/pool": "media", "unrelated": "x"},
	}
}

func (f *fixture) pod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	p, err := f.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return p
}

func TestLaunchPodSpec(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{
		"serviceAccount": "nagare-node", "imagePullPolicy": "IfNotPresent", "cpu": "500m", "memory": "256Mi",
	})
	inst, err := f.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)
	require.Equal(t, cloud.Instance{ID: "nagare-edge-1", NodeID: "edge-1", Group: "eu-edges", Role: "edge",
		State: nodemodel.StatePending, Image: "ghcr.io/nagare-video/nagare:1.2.3"}, inst)

	p := f.pod(t, "nagare-edge-1")
	require.Equal(t, map[string]string{
		"nagare.video/node-id":   "edge-1",
		"nagare.video/group":     "eu-edges",
		"nagare.video/role":      "edge",
		"app.kubernetes.io/name": "nagare",
	}, p.Labels)
	require.Equal(t, corev1.RestartPolicyNever, p.Spec.RestartPolicy)
	require.Equal(t, int64(30), *p.Spec.TerminationGracePeriodSeconds)
	require.Equal(t, "nagare-node", p.Spec.ServiceAccountName)
	require.Equal(t, map[string]string{"nagare.video/pool": "media"}, p.Spec.NodeSelector)

	require.Len(t, p.Spec.Containers, 1)
	ctr := p.Spec.Containers[0]
	require.Equal(t, "nagare", ctr.Name)
	require.Equal(t, "ghcr.io/nagare-video/nagare:1.2.3", ctr.Image)
	require.Equal(t, corev1.PullIfNotPresent, ctr.ImagePullPolicy)
	require.Equal(t, []string{"node"}, ctr.Args)
	require.Equal(t, []corev1.ContainerPort{
		{Name: "rtmp", ContainerPort: 1935, Protocol: corev1.ProtocolTCP},
		{Name: "srt", ContainerPort: 8890, Protocol: corev1.ProtocolUDP},
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "webrtc", ContainerPort: 8189, Protocol: corev1.ProtocolUDP},
		{Name: "webrtc-tcp", ContainerPort: 8189, Protocol: corev1.ProtocolTCP},
	}, ctr.Ports)
	require.False(t, p.Spec.HostNetwork)
	require.Nil(t, p.Spec.Affinity, "no anti-affinity off the host's network unless asked")
	require.Nil(t, ctr.Lifecycle, "no preStop hook without drainTimeout")
	require.Equal(t, corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"},
	}}, ctr.Env[0], "the pod's IP comes first: the advertised addresses refer to it")
	require.NotNil(t, ctr.ReadinessProbe)
	require.NotNil(t, ctr.ReadinessProbe.HTTPGet)
	require.Equal(t, "/healthz", ctr.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, 8080, ctr.ReadinessProbe.HTTPGet.Port.IntValue())
	require.True(t, ctr.Resources.Requests.Cpu().Equal(resource.MustParse("500m")))
	require.True(t, ctr.Resources.Requests.Memory().Equal(resource.MustParse("256Mi")))

	env := map[string]corev1.EnvVar{}
	for _, e := range ctr.Env {
		env[e.Name] = e
	}
	for k, want := range map[string]string{
		cloud.EnvManagerURL:   "http://manager.nagare:9000",
		cloud.EnvNodeID:       "edge-1",
		cloud.EnvRole:         "edge",
		cloud.EnvGroup:        "eu-edges", // from the spec when Env lacks it
		cloud.EnvRegion:       "eu",
		"NAGARE_RTMP_ADDRESS": ":1935",
		"NAGARE_SRT_ADDRESS":  ":8890",
		"NAGARE_HTTP_ADDRESS": ":8080",
		// the node advertises the pod's address, not the loopback one it would see
		"NAGARE_CLUSTER_ADVERTISE_RTMP": "$(POD_IP):1935",
		"NAGARE_CLUSTER_ADVERTISE_SRT":  "$(POD_IP):8890",
		"NAGARE_CLUSTER_ADVERTISE_HTTP": "$(POD_IP):8080",
	} {
		require.Equal(t, want, env[k].Value, k)
	}
	require.NotContains(t, env, cloud.EnvZone, "an empty default is left out")
	sec := env[cloud.EnvClusterSecret]
	require.Empty(t, sec.Value, "the cluster secret must not be a literal")
	require.NotNil(t, sec.ValueFrom)
	require.NotNil(t, sec.ValueFrom.SecretKeyRef)
	require.Equal(t, "nagare-edge-1-secret", sec.ValueFrom.SecretKeyRef.Name)

	raw, err := json.Marshal(p)
	require.NoError(t, err)
	require.NotContains(t, string(raw), theSecret)

	s, err := f.cs.CoreV1().Secrets("default").Get(context.Background(), sec.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, theSecret, string(s.Data[sec.ValueFrom.SecretKeyRef.Key]))
	require.Equal(t, p.Labels, s.Labels)
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "nagare-edge-1", UID: "uid-nagare-edge-1"}},
		s.OwnerReferences, "the pod owns its secret, so that the cluster deletes it with the pod")
}

func TestLaunchEnvOverridesAndNoSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{"stopTimeout": "1500ms", "labelPrefix": "example.com"})
	spec := testSpec("edge-2")
	delete(spec.Env, cloud.EnvClusterSecret)
	spec.Env["NAGARE_HTTP_ADDRESS"] = ":9090"
	spec.Env["NAGARE_RTMP_ADDRESS"] = "0.0.0.0:1936"
	_, err := f.c.Launch(context.Background(), spec)
	require.NoError(t, err)

	p := f.pod(t, "nagare-edge-2")
	require.Equal(t, "edge-2", p.Labels["example.com/node-id"])
	require.Equal(t, int64(2), *p.Spec.TerminationGracePeriodSeconds, "rounded up to whole seconds")
	ctr := p.Spec.Containers[0]
	require.Equal(t, int32(1936), ctr.Ports[0].ContainerPort)
	require.Equal(t, int32(9090), ctr.Ports[2].ContainerPort)
	require.Equal(t, 9090, ctr.ReadinessProbe.HTTPGet.Port.IntValue())
	for _, e := range ctr.Env {
		require.NotEqual(t, cloud.EnvClusterSecret, e.Name)
	}
	secrets, err := f.cs.CoreV1().Secrets("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, secrets.Items)
}

// TestLaunchOnTheHostsNetwork: hostNetwork puts the node on the host's network with one node pod per
// host, and drainTimeout gives it a preStop hook that drains it, within a grace period that leaves
// stopTimeout after the hook.
func TestLaunchOnTheHostsNetwork(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{"hostNetwork": "true", "drainTimeout": "2m", "stopTimeout": "15s", "namespace": "media"})
	ctx := context.Background()
	_, err := f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	p, err := f.cs.CoreV1().Pods("media").Get(ctx, "nagare-edge-1", metav1.GetOptions{})
	require.NoError(t, err)

	require.True(t, p.Spec.HostNetwork)
	require.Equal(t, corev1.DNSClusterFirstWithHostNet, p.Spec.DNSPolicy, "the manager's Service name must resolve")
	require.Equal(t, int64(135), *p.Spec.TerminationGracePeriodSeconds, "drainTimeout + stopTimeout")
	require.Equal(t, &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "nagare.video/node-id", Operator: metav1.LabelSelectorOpExists,
			}}},
			TopologyKey: "kubernetes.io/hostname",
		}},
	}}, p.Spec.Affinity, "on the host's network, one node pod per host by default")

	ctr := p.Spec.Containers[0]
	require.NotNil(t, ctr.Lifecycle)
	require.NotNil(t, ctr.Lifecycle.PreStop)
	require.Equal(t, &corev1.HTTPGetAction{
		Path: "/api/v1/drain?timeout=2m0s", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP,
		HTTPHeaders: []corev1.HTTPHeader{{Name: "Authorization", Value: "Bearer " + nodeapi.DrainToken(theSecret, "edge-1")}},
	}, ctr.Lifecycle.PreStop.HTTPGet)

	f.cs.ClearActions()
	require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	del := f.cs.Actions()[0].(k8stesting.DeleteAction)
	require.Equal(t, int64(135), *del.GetDeleteOptions().GracePeriodSeconds, "the deletion leaves the preStop hook its time")
}

func TestLaunchAntiAffinityAndHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	f := newFixture(t, cloud.Settings{"antiAffinity": "preferred", "drainTimeout": "30s", "labelPrefix": "example.com/"})
	spec := testSpec("edge-1")
	spec.Env["NAGARE_TLS_CERT_FILE"] = "/etc/nagare/tls/tls.crt"
	spec.Env["NAGARE_CLUSTER_ADVERTISE_HTTP"] = "edge-1.example.com:8080"
	spec.Env["NAGARE_RTMP_ENABLED"] = "false"
	_, err := f.c.Launch(ctx, spec)
	require.NoError(t, err)
	p := f.pod(t, "nagare-edge-1")
	require.False(t, p.Spec.HostNetwork)
	require.Empty(t, p.Spec.DNSPolicy)
	require.Nil(t, p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	pref := p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.Len(t, pref, 1)
	require.Equal(t, int32(100), pref[0].Weight)
	require.Equal(t, "example.com/node-id", pref[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Key)
	ctr := p.Spec.Containers[0]
	require.Equal(t, corev1.URISchemeHTTPS, ctr.Lifecycle.PreStop.HTTPGet.Scheme, "a node serving TLS is called over TLS")
	require.Equal(t, corev1.URISchemeHTTPS, ctr.ReadinessProbe.HTTPGet.Scheme)
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	require.Equal(t, "edge-1.example.com:8080", env["NAGARE_CLUSTER_ADVERTISE_HTTP"], "the spec's own address wins")
	require.NotContains(t, env, "NAGARE_CLUSTER_ADVERTISE_RTMP", "no address is advertised for a listener that is off")
	require.Equal(t, "$(POD_IP):8890", env["NAGARE_CLUSTER_ADVERTISE_SRT"])

	// without a cluster secret there is no token: no hook (such a node has no manager to drain it)
	noSecret := testSpec("edge-2")
	delete(noSecret.Env, cloud.EnvClusterSecret)
	_, err = f.c.Launch(ctx, noSecret)
	require.NoError(t, err)
	require.Nil(t, f.pod(t, "nagare-edge-2").Spec.Containers[0].Lifecycle)

	// the host's network without anti-affinity, when asked for
	g := newFixture(t, cloud.Settings{"hostNetwork": "true", "antiAffinity": "none"})
	_, err = g.c.Launch(ctx, testSpec("edge-3"))
	require.NoError(t, err)
	require.True(t, g.pod(t, "nagare-edge-3").Spec.HostNetwork)
	require.Nil(t, g.pod(t, "nagare-edge-3").Spec.Affinity)
}

func TestLaunchInvalidSpec(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*cloud.Spec){
		"no image":           func(s *cloud.Spec) { s.Image = "" },
		"no node id":         func(s *cloud.Spec) { s.NodeID = "" },
		"no role":            func(s *cloud.Spec) { s.Role = "" },
		"bad selector key":   func(s *cloud.Spec) { s.Properties["nodeSelector.bad key"] = "x" },
		"bad selector value": func(s *cloud.Spec) { s.Properties["nodeSelector.pool"] = "not a value!" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			spec := testSpec("edge-1")
			mutate(&spec)
			_, err := f.c.Launch(context.Background(), spec)
			require.ErrorIs(t, err, cloud.ErrInvalidSpec)
			require.NotContains(t, err.Error(), theSecret)
			require.Empty(t, f.cs.Actions(), "nothing is created for an invalid spec")
		})
	}
}

func TestLaunchPodFailureRemovesNewSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "nagare-edge-1", errors.New("quota exceeded"))
	})
	_, err := f.c.Launch(context.Background(), testSpec("edge-1"))
	require.Error(t, err)
	require.True(t, apierrors.IsForbidden(err), "the API error is wrapped: %v", err)
	require.NotContains(t, err.Error(), theSecret)
	_, err = f.cs.CoreV1().Secrets("default").Get(context.Background(), "nagare-edge-1-secret", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the secret made for the failed pod is deleted: %v", err)
}

func TestLaunchTwiceKeepsTheRunningPodsSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)
	_, err = f.c.Launch(context.Background(), testSpec("edge-1"))
	require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
	s, err := f.cs.CoreV1().Secrets("default").Get(context.Background(), "nagare-edge-1-secret", metav1.GetOptions{})
	require.NoError(t, err, "the first pod still needs its secret")
	require.Equal(t, theSecret, string(s.Data[secretKey]))
}

func TestLaunchUpdatesLeftoverSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.cs.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nagare-edge-1-secret", Namespace: "default", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Pod", Name: "nagare-edge-1", UID: "uid-of-a-deleted-pod"},
		}},
		Data: map[string][]byte{secretKey: []byte("old")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = f.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)
	s, err := f.cs.CoreV1().Secrets("default").Get(context.Background(), "nagare-edge-1-secret", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, theSecret, string(s.Data[secretKey]))
	require.Equal(t, "edge-1", s.Labels["nagare.video/node-id"])
	require.Len(t, s.OwnerReferences, 1)
	require.Equal(t, k8stypes.UID("uid-nagare-edge-1"), s.OwnerReferences[0].UID, "owned by the new pod only")
}

// A leftover secret owned by a deleted pod must not stay owned by it, even when making the new pod its
// owner fails: the garbage collector would delete the secret the new pod needs.
func TestLaunchDropsStaleOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	_, err := f.cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nagare-edge-1-secret", Namespace: "default", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Pod", Name: "nagare-edge-1", UID: "uid-of-a-deleted-pod"},
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	updates := 0
	f.cs.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if updates++; updates == 2 {
			return true, nil, errors.New("conflict")
		}
		return false, nil, nil
	})
	_, err = f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	require.Equal(t, 2, updates, "the data, then the owner")
	s, err := f.cs.CoreV1().Secrets("default").Get(ctx, "nagare-edge-1-secret", metav1.GetOptions{})
	require.NoError(t, err)
	require.Empty(t, s.OwnerReferences)
	require.Equal(t, theSecret, string(s.Data[secretKey]))
}

func TestListStates(t *testing.T) {
	t.Parallel()
	terminated := func(reason, message string, code int32) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: "nagare", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Reason: reason, Message: message, ExitCode: code},
		}}}
	}
	tests := []struct {
		name       string
		status     corev1.PodStatus
		deleting   bool
		wantState  nodemodel.State
		wantReason string
	}{
		{name: "pending", status: corev1.PodStatus{Phase: corev1.PodPending}, wantState: nodemodel.StatePending},
		{name: "unschedulable", status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available",
		}}}, wantState: nodemodel.StatePending, wantReason: "Unschedulable: 0/3 nodes are available"},
		{name: "image pull", status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "nagare", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}},
		}}}, wantState: nodemodel.StatePending, wantReason: "ImagePullBackOff"},
		{name: "running", status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.2.3"}, wantState: nodemodel.StateRunning},
		{name: "running, deleted", status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.2.3"}, deleting: true,
			wantState: nodemodel.StateTerminating},
		{name: "pending, deleted", status: corev1.PodStatus{Phase: corev1.PodPending}, deleting: true,
			wantState: nodemodel.StateTerminating},
		{name: "succeeded", status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: terminated("Completed", "", 0)},
			wantState: nodemodel.StateTerminated, wantReason: "Completed"},
		{name: "oom killed", status: corev1.PodStatus{Phase: corev1.PodFailed, PodIP: "10.1.2.3",
			ContainerStatuses: terminated("OOMKilled", "", 137)}, wantState: nodemodel.StateTerminated, wantReason: "OOMKilled"},
		{name: "error with message", status: corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: terminated("Error", "bad config", 1)}, wantState: nodemodel.StateTerminated, wantReason: "Error: bad config"},
		{name: "no reason", status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: terminated("", "", 2)},
			wantState: nodemodel.StateTerminated, wantReason: "exit code 2"},
		{name: "evicted", status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"},
			deleting: true, wantState: nodemodel.StateTerminated, wantReason: "Evicted: low on memory"},
		{name: "unknown", status: corev1.PodStatus{Phase: corev1.PodUnknown, PodIP: "10.1.2.3"}, wantState: nodemodel.StatePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			ctx := context.Background()
			_, err := f.c.Launch(ctx, testSpec("Edge_7"))
			require.NoError(t, err)
			// a pod that is not a node is not listed
			_, err = f.cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: "other", Namespace: "default", Labels: map[string]string{"app.kubernetes.io/name": "nagare"},
			}}, metav1.CreateOptions{})
			require.NoError(t, err)

			name := podName("Edge_7")
			p := f.pod(t, name)
			p.Status = tt.status
			p, err = f.cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			require.NoError(t, err)
			if tt.deleting {
				p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
				_, err = f.cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
				require.NoError(t, err)
			}

			got, err := f.c.List(ctx)
			require.NoError(t, err)
			require.Equal(t, []cloud.Instance{{
				ID: name, NodeID: "Edge_7", Group: "eu-edges", Role: "edge",
				State: tt.wantState, Reason: tt.wantReason, Address: tt.status.PodIP,
				Image: "ghcr.io/nagare-video/nagare:1.2.3", // what the pod was made from: a rolling upgrade compares it
			}}, got)
		})
	}
}

func TestListError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("etcd is down"))
	})
	_, err := f.c.List(context.Background())
	require.ErrorContains(t, err, "etcd is down")
	require.True(t, apierrors.IsInternalError(err))
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{"stopTimeout": "45s", "namespace": "media"})
	ctx := context.Background()
	_, err := f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	_, err = f.c.Launch(ctx, testSpec("edge-2"))
	require.NoError(t, err)
	f.cs.ClearActions()

	require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	var deletes []k8stesting.DeleteAction
	for _, a := range f.cs.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deletes = append(deletes, d)
		}
	}
	require.Len(t, deletes, 2)
	require.Equal(t, "pods", deletes[0].GetResource().Resource)
	require.Equal(t, "nagare-edge-1", deletes[0].GetName())
	require.Equal(t, "media", deletes[0].GetNamespace())
	require.Equal(t, int64(45), *deletes[0].GetDeleteOptions().GracePeriodSeconds)
	require.Equal(t, "secrets", deletes[1].GetResource().Resource)
	require.Equal(t, "nagare-edge-1-secret", deletes[1].GetName())

	_, err = f.cs.CoreV1().Pods("media").Get(ctx, "nagare-edge-1", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))
	_, err = f.cs.CoreV1().Secrets("media").Get(ctx, "nagare-edge-1-secret", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))
	got, err := f.c.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "edge-2", got[0].NodeID)

	require.NoError(t, f.c.Terminate(ctx, "edge-1"), "terminating again")
	require.NoError(t, f.c.Terminate(ctx, "never-launched"))
}

func TestTerminateError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "nagare-edge-1", errors.New("rbac"))
	})
	err := f.c.Terminate(context.Background(), "edge-1")
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, "nagare-edge-1")
}

func TestPodName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100)
	tests := []struct {
		id, want string // want "" checks only validity
	}{
		{id: "edge-1", want: "nagare-edge-1"},
		{id: "0a1b2c", want: "nagare-0a1b2c"},
		{id: "Edge-1"},
		{id: "edge_1"},
		{id: "EDGE__1."},
		{id: long},
		{id: long + "b"},
		{id: "ノード"},
		{id: "-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := podName(tt.id)
			if tt.want != "" {
				require.Equal(t, tt.want, got)
			}
			require.Empty(t, validation.IsDNS1123Label(got), "%q", got)
			require.LessOrEqual(t, len(got), 63)
			require.Equal(t, strings.ToLower(got), got)
			require.True(t, strings.HasPrefix(got, "nagare-"), got)
			require.Empty(t, validation.IsDNS1123Subdomain(secretName(got)))
			require.Equal(t, got, podName(tt.id), "deterministic")
			require.Empty(t, validation.IsValidLabelValue(labelValue(tt.id)), "label value of %q", tt.id)
		})
		require.NotContains(t, seen, podName(tt.id), "%q and %q share a pod", tt.id, seen[podName(tt.id)])
		seen[podName(tt.id)] = tt.id
	}
	require.NotEqual(t, podName("Edge_1"), podName("edge-1"))
	require.Equal(t, "eu-edges_2.b", labelValue("eu-edges_2.b"), "a valid label value is kept")
	require.Empty(t, labelValue(""), "an empty group stays empty")
}

func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]cloud.Settings{
		"unknown key":           {"namspace": "media"},
		"namespace":             {"namespace": "Media_1"},
		"serviceAccount":        {"serviceAccount": "bad account"},
		"imagePullPolicy":       {"imagePullPolicy": "Sometimes"},
		"cpu":                   {"cpu": "lots"},
		"memory":                {"memory": "-1Gi"},
		"stopTimeout":           {"stopTimeout": "30"},
		"labelPrefix":           {"labelPrefix": "not a prefix/"},
		"labelPrefix too long":  {"labelPrefix": strings.Repeat("a", 254) + "/"},
		"hostNetwork":           {"hostNetwork": "yes please"},
		"antiAffinity":          {"antiAffinity": "always"},
		"drainTimeout":          {"drainTimeout": "forever"},
		"drainTimeout too long": {"drainTimeout": "2h"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(fake.NewClientset(), s, slog.New(slog.DiscardHandler))
			require.ErrorIs(t, err, cloud.ErrSettings)
		})
	}
}

// The registered factory builds a real clientset; building one does not talk to the cluster.
func TestFactory(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	// not in a cluster, no default kubeconfig
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	t.Setenv("HOME", dir)

	c, err := cloud.New(Name, cloud.Settings{"kubeconfig": kubeconfig, "namespace": "media"}, cloud.Options{})
	require.NoError(t, err)
	require.Equal(t, Name, c.Name())

	_, err = cloud.New(Name, cloud.Settings{"kubeconfig": filepath.Join(dir, "nope")}, cloud.Options{})
	require.ErrorIs(t, err, cloud.ErrSettings)

	_, err = cloud.New(Name, nil, cloud.Options{})
	require.ErrorIs(t, err, cloud.ErrSettings)

	t.Setenv("KUBECONFIG", kubeconfig)
	c, err = cloud.New(Name, nil, cloud.Options{})
	require.NoError(t, err, "$KUBECONFIG is the fallback")
	require.Equal(t, "default", c.(*Controller).namespace)
}

// A whole life cycle, with errors on the way, never logs the secret; the fixture's cleanup checks the logs.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	_, err := f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	f.cs.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("conflict")
	})
	_, err = f.c.Launch(ctx, testSpec("edge-2")) // owning the secret fails: a warning
	require.NoError(t, err)
	_, err = f.c.Launch(ctx, testSpec("edge-1")) // the secret exists and cannot be updated
	require.Error(t, err)
	require.NotContains(t, err.Error(), theSecret)
	_, err = f.c.List(ctx)
	require.NoError(t, err)
	require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	require.Contains(t, f.logs.String(), "node launched")
	require.Contains(t, f.logs.String(), "making the pod own its secret")
}
