package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	k8stypes "k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/cloud/kubernetes"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

const (
	chartDir    = "helm/nagare"
	releaseName = "stream"
	releaseNS   = "media"
	// configPath is where the manager and the VOD service read the rendered configuration.
	configPath = "/etc/nagare/nagare.yaml"
)

// helmBinary finds helm on PATH or where scripts/deps.sh installs it ($(go env GOPATH)/bin).
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "helm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if testing.Short() {
		t.Skip("helm not found (scripts/deps.sh helm installs it)")
	}
	t.Fatal("helm not found on PATH or in $(go env GOPATH)/bin: run scripts/deps.sh helm")
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// rendered is one `helm template` of the chart: the objects by kind and name, typed ones decoded strictly
// through client-go's scheme, the Prometheus Operator's as unstructured.
type rendered struct {
	typed   map[string]runtime.Object // "Kind/name"
	untyped map[string]*unstructured.Unstructured
}

func (r rendered) names(kind string) []string {
	var out []string
	for k := range r.typed {
		if name, ok := strings.CutPrefix(k, kind+"/"); ok {
			out = append(out, name)
		}
	}
	for k := range r.untyped {
		if name, ok := strings.CutPrefix(k, kind+"/"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func get[T runtime.Object](t *testing.T, r rendered, kind, name string) T {
	t.Helper()
	o, ok := r.typed[kind+"/"+name]
	require.True(t, ok, "no %s %s rendered (have %s)", kind, name, r.names(kind))
	v, ok := o.(T)
	require.True(t, ok, "%s %s is a %T", kind, name, o)
	return v
}

// strictCodec decodes YAML into client-go's types, refusing unknown and duplicate fields.
var strictCodec = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// decodeAll splits a multi-document YAML stream and decodes every document.
func decodeAll(t *testing.T, manifests string) rendered {
	t.Helper()
	r := rendered{typed: map[string]runtime.Object{}, untyped: map[string]*unstructured.Unstructured{}}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strictCodec.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			js, jerr := utilyaml.ToJSON(doc)
			require.NoError(t, jerr)
			u := &unstructured.Unstructured{}
			require.NoError(t, u.UnmarshalJSON(js), "%s", doc)
			key := u.GetKind() + "/" + u.GetName()
			require.NotContains(t, r.untyped, key, "rendered twice")
			r.untyped[key] = u
			continue
		}
		require.NoError(t, err, "strict decoding of\n%s", doc)
		meta, err := runtimeMeta(obj)
		require.NoError(t, err)
		key := gvk.Kind + "/" + meta
		require.NotContains(t, r.typed, key, "rendered twice")
		r.typed[key] = obj
	}
	return r
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func runtimeMeta(obj runtime.Object) (string, error) {
	m, ok := obj.(interface{ GetName() string })
	if !ok {
		return "", fmt.Errorf("%T has no name", obj)
	}
	return m.GetName(), nil
}

// render runs helm lint and helm template with the values file.
func render(t *testing.T, values string, extra ...string) rendered {
	t.Helper()
	args := append([]string{"--namespace", releaseNS, "-f", values}, extra...)
	_, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
	require.NoError(t, err)
	out, err := helm(t, append([]string{"template", releaseName, chartDir}, args...)...)
	require.NoError(t, err)
	return decodeAll(t, out)
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindSubmatch(b)
	require.NotNil(t, m, "Chart.yaml has no appVersion")
	return string(m[1])
}

// TestHelmChart renders the chart with each values file under ci/ and checks what it makes: every
// manifest decodes strictly; the configuration passes nagare's own loading and validation with the
// Secret's values in the environment; the kubernetes controller accepts the settings the chart gives it
// and makes a pod that decodes strictly; the Role allows exactly what that controller calls.
func TestHelmChart(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), "-values.yaml"))
	}
	require.Equal(t, []string{"default", "hostnetwork", "production", "servicemonitor"}, names)
	image := "ghcr.io/nagare-video/nagare:" + chartAppVersion(t)

	checks := map[string]func(t *testing.T, r rendered, cfg config.Config){
		"default": func(t *testing.T, r rendered, cfg config.Config) {
			d := get[*appsv1.Deployment](t, r, "Deployment", "stream-nagare-manager")
			require.Equal(t, int32(1), *d.Spec.Replicas)
			require.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type, "one process at a time on SQLite")
			require.Equal(t, "sqlite", cfg.Manager.StoreEngine)
			require.False(t, cfg.Manager.SharedStore)
			pvc := get[*corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim", "stream-nagare-manager")
			require.Equal(t, pvc.Name, volume(t, d.Spec.Template.Spec, "data").PersistentVolumeClaim.ClaimName)
			require.Empty(t, r.names("Ingress"))
			require.Empty(t, r.names("ServiceMonitor"))
			require.Equal(t, []string{"stream-nagare-manager"}, r.names("Deployment"), "no VOD service by default")
			require.Equal(t, "2m", cfg.Manager.Autoscale.Settings["drainTimeout"], "nodes drain before they stop by default")
		},
		"production": func(t *testing.T, r rendered, cfg config.Config) {
			d := get[*appsv1.Deployment](t, r, "Deployment", "stream-nagare-manager")
			require.Equal(t, int32(3), *d.Spec.Replicas)
			require.NotEqual(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)
			require.Equal(t, "mysql", cfg.Manager.StoreEngine)
			require.True(t, cfg.Manager.SharedStore, "replicas share the MySQL store")
			require.Equal(t, "nagare:password@tcp(mysql.db.svc.cluster.local:3306)/nagare?parseTime=true", cfg.Manager.StoreDSN)
			require.Empty(t, r.names("PersistentVolumeClaim"))
			require.Equal(t, "warn", cfg.Log.Level, "values' config is merged over the chart's")
			require.Equal(t, 50000, cfg.Manager.MaxConnections)
			require.Equal(t, "s3", cfg.Storage.Backend)
			require.Equal(t, "AKIAEXAMPLE", cfg.Storage.AccessKeyID, "S3 keys come from the Secret")
			require.Equal(t, []corev1.LocalObjectReference{{Name: "ghcr-pull"}}, d.Spec.Template.Spec.ImagePullSecrets)

			ing := get[*networkingv1.Ingress](t, r, "Ingress", "stream-nagare")
			require.Equal(t, "nginx", *ing.Spec.IngressClassName)
			require.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"stream.example.com"}, SecretName: "nagare-tls"}}, ing.Spec.TLS)
			require.Len(t, ing.Spec.Rules, 1)
			require.Equal(t, "stream.example.com", ing.Spec.Rules[0].Host)
			backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
			svc := get[*corev1.Service](t, r, "Service", backend.Name)
			require.Equal(t, backend.Port.Name, svc.Spec.Ports[0].Name, "the Ingress names a port of the manager's Service")
			requireSelects(t, svc.Spec.Selector, d)

			vod := get[*appsv1.Deployment](t, r, "Deployment", "stream-nagare-vod")
			require.Equal(t, int32(2), *vod.Spec.Replicas)
			ctr := vod.Spec.Template.Spec.Containers[0]
			require.Equal(t, []string{"vod", "--config", configPath}, ctr.Args)
			grpcPort := containerPort(t, ctr, "grpc")
			require.Equal(t, int32(9090), grpcPort)
			for name, p := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe, "startup": ctr.StartupProbe} {
				require.NotNil(t, p, name)
				require.NotNil(t, p.GRPC, "%s: a native gRPC probe", name)
				require.Equal(t, grpcPort, p.GRPC.Port, name)
				require.Nil(t, p.HTTPGet, name)
				require.Nil(t, p.Exec, name)
			}
			vcfg := loadConfig(t, r, ctr)
			require.NoError(t, vcfg.ValidateVOD())

			// the VOD service's /metrics is scraped through its Service's http port
			vsm := r.untyped["ServiceMonitor/stream-nagare-vod"]
			require.NotNil(t, vsm, "no ServiceMonitor of the VOD service (have %s)", slices.Sorted(maps.Keys(r.untyped)))
			vmatch, _, err := unstructured.NestedStringMap(vsm.Object, "spec", "selector", "matchLabels")
			require.NoError(t, err)
			vsvc := get[*corev1.Service](t, r, "Service", "stream-nagare-vod")
			require.Equal(t, vsvc.Spec.Selector, vmatch)
			require.True(t, slices.ContainsFunc(vsvc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "http" }))
			require.Equal(t, ":9090", vcfg.VOD.GRPCAddress)
			require.Equal(t, "https://vod.example.com", vcfg.VOD.PublicURL)
			require.Equal(t, "vod-token-secret-0123456789", vcfg.VOD.TokenSecret)
			requireSelects(t, get[*corev1.Service](t, r, "Service", "stream-nagare-vod").Spec.Selector, vod)

			require.Equal(t, []string{"stream-nagare-manager", "stream-nagare-vod"}, r.names("PodDisruptionBudget"))
			for _, dep := range []*appsv1.Deployment{d, vod} {
				pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", dep.Name)
				sel, err := metaSelector(pdb)
				require.NoError(t, err)
				require.True(t, sel.Matches(labels.Set(dep.Spec.Template.Labels)), "the PDB %s covers its pods", pdb.Name)
				require.Equal(t, 1, pdb.Spec.MaxUnavailable.IntValue())
			}
		},
		"hostnetwork": func(t *testing.T, r rendered, cfg config.Config) {
			require.Equal(t, "true", cfg.Manager.Autoscale.Settings["hostNetwork"])
			require.NotContains(t, cfg.Manager.Autoscale.Settings, "serviceAccount", "the namespace's default service account")
			require.Equal(t, []string{"stream-nagare-manager"}, r.names("ServiceAccount"))
		},
		"servicemonitor": func(t *testing.T, r rendered, _ config.Config) {
			sm := r.untyped["ServiceMonitor/stream-nagare-manager"]
			require.NotNil(t, sm, "no ServiceMonitor (have %s)", slices.Sorted(maps.Keys(r.untyped)))
			require.Equal(t, "monitoring.coreos.com/v1", sm.GetAPIVersion())
			require.Equal(t, "kube-prometheus-stack", sm.GetLabels()["release"])
			eps, found, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			require.NoError(t, err)
			require.True(t, found)
			require.Len(t, eps, 1)
			ep := eps[0].(map[string]any)
			require.Equal(t, "http", ep["port"])
			require.Equal(t, "/metrics", ep["path"])
			require.Equal(t, "30s", ep["interval"])
			match, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			require.NoError(t, err)
			svc := get[*corev1.Service](t, r, "Service", "stream-nagare-manager")
			require.Equal(t, svc.Spec.Selector, match, "the ServiceMonitor selects the manager's Service")
			require.True(t, labels.SelectorFromSet(match).Matches(labels.Set(svc.Labels)))
			require.Equal(t, "http", svc.Spec.Ports[0].Name)

			pm := r.untyped["PodMonitor/stream-nagare-nodes"]
			require.NotNil(t, pm)
			require.Equal(t, "monitoring.coreos.com/v1", pm.GetAPIVersion())
			// checked against a pod the controller makes in podOfController
		},
	}

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := render(t, filepath.Join(chartDir, "ci", name+"-values.yaml"))
			require.NotEmpty(t, r.typed)
			for key, o := range r.typed {
				if m, ok := o.(interface{ GetNamespace() string }); ok {
					require.Equal(t, releaseNS, m.GetNamespace(), "%s is outside the release namespace", key)
				}
			}
			d := get[*appsv1.Deployment](t, r, "Deployment", "stream-nagare-manager")
			pod := d.Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			ctr := pod.Containers[0]
			require.Equal(t, image, ctr.Image, "the image defaults to the chart's appVersion")
			require.Equal(t, []string{"manager", "--config", configPath}, ctr.Args)
			require.Equal(t, int64(65532), *pod.SecurityContext.RunAsUser, "the image's user")
			require.True(t, *ctr.SecurityContext.ReadOnlyRootFilesystem)
			svc := get[*corev1.Service](t, r, "Service", "stream-nagare-manager")
			requireSelects(t, svc.Spec.Selector, d)
			require.Equal(t, ctr.Ports[0].ContainerPort, svc.Spec.Ports[0].Port)
			require.Equal(t, "/healthz", ctr.ReadinessProbe.HTTPGet.Path)

			cfg := loadConfig(t, r, ctr)
			require.NoError(t, cfg.ValidateManager())
			require.Equal(t, fmt.Sprintf(":%d", ctr.Ports[0].ContainerPort), cfg.Manager.Address)

			// the manager's cloud controller, as the chart configures it
			a := cfg.Manager.Autoscale
			require.Equal(t, "kubernetes", a.Controller)
			require.Equal(t, releaseNS, a.Settings["namespace"])
			u, err := url.Parse(a.ManagerURL)
			require.NoError(t, err)
			host, port, err := net.SplitHostPort(u.Host)
			require.NoError(t, err)
			require.Equal(t, svc.Name+"."+releaseNS+".svc", host, "nodes reach the manager through its Service")
			require.Equal(t, fmt.Sprint(svc.Spec.Ports[0].Port), port)
			if sa := a.Settings["serviceAccount"]; sa != "" {
				nodeSA := get[*corev1.ServiceAccount](t, r, "ServiceAccount", sa)
				require.False(t, *nodeSA.AutomountServiceAccountToken, "node pods get no API token")
			}
			controllerPod := podOfController(t, a.Settings, cfg, r)
			checkRBAC(t, r, pod.ServiceAccountName, a.Settings)

			if name == "hostnetwork" {
				require.True(t, controllerPod.Spec.HostNetwork)
				require.Equal(t, corev1.DNSClusterFirstWithHostNet, controllerPod.Spec.DNSPolicy)
				anti := controllerPod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
				require.Len(t, anti, 1, "one node per host on the host's network")
				require.Equal(t, "kubernetes.io/hostname", anti[0].TopologyKey)
				require.Equal(t, int64(10*60+45), *controllerPod.Spec.TerminationGracePeriodSeconds, "drainTimeout + stopTimeout")
				require.Equal(t, nodeapi.PathDrain+"?timeout=10m0s", controllerPod.Spec.Containers[0].Lifecycle.PreStop.HTTPGet.Path)
				require.Equal(t, corev1.PullAlways, controllerPod.Spec.Containers[0].ImagePullPolicy)
			} else {
				require.False(t, controllerPod.Spec.HostNetwork)
				require.Nil(t, controllerPod.Spec.Affinity)
			}
			if name == "servicemonitor" {
				checkPodMonitor(t, r.untyped["PodMonitor/stream-nagare-nodes"], controllerPod)
			}
			checks[name](t, r, cfg)
		})
	}
}

// loadConfig loads the rendered configuration as the container does: the ConfigMap's file, and the
// environment the container gets, the Secret's values filled in (a key the container needs and the
// Secret lacks is an error).
func loadConfig(t *testing.T, r rendered, ctr corev1.Container) config.Config {
	t.Helper()
	var cmName string
	var volumeName string
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == filepath.Dir(configPath) {
			volumeName = m.Name
		}
	}
	require.NotEmpty(t, volumeName, "nothing mounted at %s", filepath.Dir(configPath))
	for _, o := range r.typed {
		if d, ok := o.(*appsv1.Deployment); ok && slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == ctr.Name }) {
			cmName = volume(t, d.Spec.Template.Spec, volumeName).ConfigMap.Name
		}
	}
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap", cmName)
	file := filepath.Join(t.TempDir(), filepath.Base(configPath))
	require.Contains(t, cm.Data, filepath.Base(configPath))
	require.NoError(t, os.WriteFile(file, []byte(cm.Data[filepath.Base(configPath)]), 0o600))

	var environ []string
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := get[*corev1.Secret](t, r, "Secret", ref.Name)
			v, ok := s.Data[ref.Key]
			if !ok {
				require.True(t, ref.Optional != nil && *ref.Optional, "%s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
				continue
			}
			environ = append(environ, e.Name+"="+string(v))
		default:
			t.Fatalf("%s: unexpected source %+v", e.Name, e.ValueFrom)
		}
	}
	cfg, err := config.Load(file, environ)
	require.NoError(t, err, "nagare refuses the rendered configuration:\n%s", cm.Data[filepath.Base(configPath)])
	return cfg
}

func volume(t *testing.T, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func containerPort(t *testing.T, ctr corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range ctr.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", ctr.Name, name)
	return 0
}

func requireSelects(t *testing.T, selector map[string]string, d *appsv1.Deployment) {
	t.Helper()
	require.NotEmpty(t, selector)
	require.True(t, labels.SelectorFromSet(selector).Matches(labels.Set(d.Spec.Template.Labels)),
		"selector %v does not select the pods of %s", selector, d.Name)
}

func metaSelector(pdb *policyv1.PodDisruptionBudget) (labels.Selector, error) {
	return labels.ValidatedSelectorFromSet(pdb.Spec.Selector.MatchLabels)
}

// launchSpec is what the autoscaler hands the controller: the node's settings as NAGARE_* variables,
// the cluster secret among them.
func launchSpec(cfg config.Config, nodeID string) cloud.Spec {
	return cloud.Spec{
		NodeID: nodeID, Group: "eu", Role: "edge", Image: "ghcr.io/nagare-video/nagare:test",
		Env: map[string]string{
			cloud.EnvManagerURL: cfg.Manager.Autoscale.ManagerURL, cloud.EnvClusterSecret: cfg.Cluster.Secret,
			cloud.EnvNodeID: nodeID, cloud.EnvRole: "edge",
		},
	}
}

// newFakeClientset is client-go's fake, with the UIDs the API server would give.
func newFakeClientset() *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(k8stesting.CreateAction).GetObject().(interface{ SetUID(k8stypes.UID) }); ok {
			o.SetUID(k8stypes.UID("uid-" + time.Now().Format(time.RFC3339Nano)))
		}
		return false, nil, nil
	})
	return cs
}

// podOfController has the controller, configured with the chart's settings, launch a node on client-go's
// fake clientset, and returns the pod it made after a strict round trip through the scheme.
func podOfController(t *testing.T, settings map[string]string, cfg config.Config, r rendered) *corev1.Pod {
	t.Helper()
	cs := newFakeClientset()
	c, err := kubernetes.New(cs, settings, nil)
	require.NoError(t, err, "the controller refuses the chart's settings %v", settings)
	_, err = c.Launch(context.Background(), launchSpec(cfg, "edge-1"))
	require.NoError(t, err)
	pods, err := cs.CoreV1().Pods(releaseNS).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	pod := pods.Items[0].DeepCopy()
	pod.APIVersion, pod.Kind = "v1", "Pod"
	var buf bytes.Buffer
	yamlCodec := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{Yaml: true})
	require.NoError(t, yamlCodec.Encode(pod, &buf))
	obj, _, err := strictCodec.Decode(buf.Bytes(), nil, nil)
	require.NoError(t, err, "the controller's pod does not decode strictly:\n%s", buf.String())
	p := obj.(*corev1.Pod)

	require.Equal(t, releaseNS, p.Namespace)
	require.Equal(t, settings["serviceAccount"], p.Spec.ServiceAccountName)
	ctr := p.Spec.Containers[0]
	require.Equal(t, []string{"node"}, ctr.Args)
	// the grace period covers the drain and then the node's own stop
	stop, err := time.ParseDuration(settings["stopTimeout"])
	require.NoError(t, err)
	require.GreaterOrEqual(t, stop, config.Default().Node.ShutdownTimeout, "stopTimeout below node.shutdownTimeout")
	drain, err := time.ParseDuration(settings["drainTimeout"])
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Duration(*p.Spec.TerminationGracePeriodSeconds)*time.Second, drain+stop)
	require.NotNil(t, ctr.Lifecycle, "a preStop hook that drains the node")
	get := ctr.Lifecycle.PreStop.HTTPGet
	require.NotNil(t, get)
	require.Equal(t, nodeapi.PathDrain+"?timeout="+drain.String(), get.Path)
	require.Equal(t, ctr.ReadinessProbe.HTTPGet.Port, get.Port)
	require.Equal(t, []corev1.HTTPHeader{{Name: "Authorization", Value: "Bearer " + nodeapi.DrainToken(cfg.Cluster.Secret, "edge-1")}},
		get.HTTPHeaders)
	require.NotContains(t, buf.String(), cfg.Cluster.Secret, "the cluster secret is in the pod spec")
	return p
}

// checkRBAC runs the controller through every call it makes (a launch, a launch again over what the first
// left, a list, a terminate) on client-go's fake clientset and compares the verbs and resources it used
// with the Role bound to the manager's service account: nothing missing, nothing more.
func checkRBAC(t *testing.T, r rendered, managerSA string, settings map[string]string) {
	t.Helper()
	cs := newFakeClientset()
	c, err := kubernetes.New(cs, settings, nil)
	require.NoError(t, err)
	ctx := context.Background()
	cfg := config.Config{Cluster: config.Cluster{Secret: "cluster-secret-0123456789"}}
	for _, id := range []string{"edge-1", "edge-2"} {
		_, err = c.Launch(ctx, launchSpec(cfg, id))
		require.NoError(t, err)
	}
	// a pod deleted behind the controller's back (the garbage collector has not removed its secret yet)
	// leaves a secret for the next launch of the id to take over
	require.NoError(t, cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), releaseNS, "nagare-edge-2"))
	before := len(cs.Actions())
	_, err = c.Launch(ctx, launchSpec(cfg, "edge-2"))
	require.NoError(t, err)
	launchAgain := cs.Actions()[before:]
	_, err = c.List(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Terminate(ctx, "edge-1"))
	require.NoError(t, c.Terminate(ctx, "never-launched"))

	used := map[string]bool{} // "resource verb"
	for _, a := range cs.Actions() {
		require.Equal(t, releaseNS, a.GetNamespace(), "the controller acts outside the release namespace: %v", a)
		require.Empty(t, a.GetResource().Group)
		require.Empty(t, a.GetSubresource())
		used[a.GetResource().Resource+" "+a.GetVerb()] = true
	}
	require.True(t, slices.ContainsFunc(launchAgain, func(a k8stesting.Action) bool {
		return a.GetResource().Resource == "secrets" && a.GetVerb() == "update"
	}), "the relaunch did not take over the leftover secret: the controller's calls were not all made")

	rb := get[*rbacv1.RoleBinding](t, r, "RoleBinding", "stream-nagare-controller")
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: managerSA, Namespace: releaseNS}}, rb.Subjects)
	require.Equal(t, "Role", rb.RoleRef.Kind)
	role := get[*rbacv1.Role](t, r, "Role", rb.RoleRef.Name)
	allowed := map[string]bool{}
	for _, rule := range role.Rules {
		require.Equal(t, []string{""}, rule.APIGroups, "only the core group")
		require.Empty(t, rule.ResourceNames)
		for _, res := range rule.Resources {
			for _, verb := range rule.Verbs {
				require.NotEqual(t, "*", verb)
				allowed[res+" "+verb] = true
			}
		}
	}
	require.Equal(t, slices.Sorted(maps.Keys(used)), slices.Sorted(maps.Keys(allowed)),
		"the Role must allow exactly what the controller calls")
	require.Empty(t, r.names("ClusterRole"), "nothing cluster-wide")
	require.Empty(t, r.names("ClusterRoleBinding"))
}

// checkPodMonitor: the PodMonitor selects the pods the controller makes, on their http port, and turns
// their annotations into the service discovery's labels.
func checkPodMonitor(t *testing.T, pm *unstructured.Unstructured, pod *corev1.Pod) {
	t.Helper()
	require.NotNil(t, pm)
	exprs, _, err := unstructured.NestedSlice(pm.Object, "spec", "selector", "matchExpressions")
	require.NoError(t, err)
	require.Len(t, exprs, 1)
	expr := exprs[0].(map[string]any)
	require.Equal(t, "Exists", expr["operator"])
	require.Contains(t, pod.Labels, expr["key"], "the PodMonitor's selector misses the node pods")
	match, _, err := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	require.NoError(t, err)
	require.True(t, labels.SelectorFromSet(match).Matches(labels.Set(pod.Labels)))

	eps, _, err := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	require.NoError(t, err)
	require.Len(t, eps, 1)
	ep := eps[0].(map[string]any)
	require.Equal(t, "/metrics", ep["path"])
	require.Equal(t, int64(8080), int64(containerPort(t, pod.Spec.Containers[0], ep["port"].(string))))
	// Prometheus' meta label of an annotation: every character but [a-zA-Z0-9_] becomes "_"
	metaLabel := func(annotation string) string {
		return "__meta_kubernetes_pod_annotation_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(annotation, "_")
	}
	want := map[string]string{}
	for k, v := range pod.Annotations {
		want[metaLabel(k)] = v
	}
	relabels := ep["relabelings"].([]any)
	got := map[string]string{}
	for _, rl := range relabels {
		m := rl.(map[string]any)
		src := m["sourceLabels"].([]any)
		require.Len(t, src, 1)
		v, ok := want[src[0].(string)]
		require.True(t, ok, "relabeling from %s, which the node pods do not have (%v)", src[0], slices.Sorted(maps.Keys(want)))
		got[m["targetLabel"].(string)] = v
	}
	require.Equal(t, map[string]string{"nagare_node": "edge-1", "nagare_role": "edge", "nagare_group": "eu"}, got)
}

// TestHelmChartRefuses: values that would make a release that cannot work fail to render, saying why.
func TestHelmChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"replicas on SQLite", []string{"manager.replicas=2"}, "manager.replicas above 1 needs manager.store.engine mysql"},
		{"MySQL without a DSN", []string{"manager.store.engine=mysql"}, "needs secrets.storeDSN"},
		{"replicas without a shared store", []string{"manager.replicas=2", "manager.store.engine=mysql", "secrets.storeDSN=x", "manager.sharedStore=false"},
			"needs manager.sharedStore"},
		{"VOD on SQLite", []string{"vod.enabled=true"}, "vod.enabled needs manager.store.engine mysql"},
		{"VOD replicas on local storage", []string{"vod.enabled=true", "vod.replicas=2", "manager.store.engine=mysql", "secrets.storeDSN=x"},
			"needs storage.backend s3"},
		{"an unknown store", []string{"manager.store.engine=postgres"}, "must be sqlite or mysql"},
		{"an unknown anti-affinity", []string{"nodes.antiAffinity=sometimes"}, "nodes.antiAffinity must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"template", releaseName, chartDir, "--namespace", releaseNS}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestHelmValuesDocumented: every key of values.yaml has a comment, on its line or the lines just above.
func TestHelmValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	key := regexp.MustCompile(`^(\s*)([A-Za-z][A-Za-z0-9]*):`)
	lines := strings.Split(string(b), "\n")
	var undocumented []string
	for i, l := range lines {
		m := key.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if strings.Contains(l, "#") {
			continue
		}
		prev := ""
		if i > 0 {
			prev = strings.TrimSpace(lines[i-1])
		}
		if !strings.HasPrefix(prev, "#") {
			undocumented = append(undocumented, fmt.Sprintf("line %d: %s", i+1, strings.TrimSpace(l)))
		}
	}
	require.Empty(t, undocumented, "values without a comment")
}
