package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flyteactors/flyteactors/tests/harness"
)

func TestMain(m *testing.M) {
	harness.Setup()
	os.Exit(m.Run())
}

// defaultRelease is the install the README shows: helm install flyte-actors charts/flyte-actors -n flyte.
var defaultRelease = Release{Name: "flyte-actors", Namespace: "flyte"}

func chartDir(t *testing.T) string {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func requiredValues() map[string]any { return RequiredValues() }

func fullValues(t *testing.T) map[string]any {
	t.Helper()
	values, err := ValuesFile(filepath.Join("testdata", "full-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return values
}

func render(t *testing.T, release Release, values map[string]any) *Rendered {
	t.Helper()
	r, err := Render(chartDir(t), release, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// propellerConfig returns the rendered propeller configuration, parsed.
func propellerConfig(t *testing.T, r *Rendered) map[string]any {
	t.Helper()
	text, err := r.PropellerConfig()
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := yaml.UnmarshalStrict([]byte(text), &config); err != nil {
		t.Fatalf("propeller config is not YAML: %v\n%s", err, text)
	}
	return config
}

func lookup(t *testing.T, tree map[string]any, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(tree, path...)
	if err != nil || !ok {
		t.Fatalf("%s: missing (%v)", strings.Join(path, "."), err)
	}
	return v
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// TestHelmLint runs what `helm lint --strict` runs (Helm's lint package) with the default values and
// with the full values file: any warning or error fails.
func TestHelmLint(t *testing.T) {
	kube, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string]map[string]any{"required values": requiredValues(), "full values": fullValues(t)} {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(chartDir(t), values, defaultRelease.Namespace, kube)
			for _, m := range linter.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestUnmodifiedInstallFailsClearly: without the images' names, the install fails at once naming the
// value to set, rather than pods that cannot pull a default image for minutes.
func TestUnmodifiedInstallFailsClearly(t *testing.T) {
	_, err := Render(chartDir(t), defaultRelease, nil)
	if err == nil || !strings.Contains(err.Error(), ".image.repository: set it to the registry and name you pushed") {
		t.Errorf("an install without values: %v, want it to name an image repository to set", err)
	}
	values := requiredValues()
	delete(values, "propeller")
	_, err = Render(chartDir(t), defaultRelease, values)
	if err == nil || !strings.Contains(err.Error(), "propeller.image.repository: set it to") {
		t.Errorf("an install without the propeller image: %v, want it to name propeller.image.repository", err)
	}
}

func TestRenderDefaults(t *testing.T) {
	r := render(t, defaultRelease, requiredValues())
	wantEqual(t, "objects", r.Kinds(), []string{
		"ConfigMap/flyte-actors-propeller-config",
		"NetworkPolicy/flyte-actors-executor-port",
		"ClusterRole/flyte-actors-pool",
		"ClusterRoleBinding/flyte-actors-pool",
		"Role/flyte-actors-pool-endpoint",
		"RoleBinding/flyte-actors-pool-endpoint",
		"Service/flyte-actors",
	})
	config := propellerConfig(t, r)
	if _, found, _ := unstructured.NestedFieldNoCopy(config, "tasks", "task-plugins", "enabled-plugins"); found {
		t.Error("the chart sets enabled-plugins: it would replace flyte-core's list")
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(config, "propeller"); found {
		t.Error("the chart changes propeller's own settings (its queue) by default")
	}
	wantEqual(t, "default-for-task-types", lookup(t, config, "tasks", "task-plugins", "default-for-task-types"),
		map[string]any{"actor": "actor", "fast-task": "actor"})
	actor := lookup(t, config, "plugins", "actor").(map[string]any)
	wantEqual(t, "listen-address", actor["listen-address"], ":8089")
	wantEqual(t, "advertise-address", actor["advertise-address"], "flyte-actors{shard}.flyte.svc.cluster.local:8089")
	wantEqual(t, "executor-image", actor["executor-image"], "registry.example.com/flyteactors/actor-executor:0.1.0")
	wantEqual(t, "tls", actor["tls"], map[string]any{"mode": "auto", "secret-name": "flyte-actors-tls", "secret-namespace": "flyte"})
	wantEqual(t, "endpoint", actor["endpoint"], map[string]any{"publish": true, "service": "flyte-actors{shard}", "namespace": "flyte"})

	service := r.Object("Service", "flyte-actors")
	if _, found, _ := unstructured.NestedFieldNoCopy(service.Object, "spec", "selector"); found {
		t.Error("the Service selects pods: executors could reach a standby propeller; the leader's pool publishes its endpoint")
	}
	wantEqual(t, "Service ports", lookup(t, service.Object, "spec", "ports"), []any{
		map[string]any{"name": "grpc-executor", "protocol": "TCP", "port": int64(8089), "targetPort": int64(8089)},
		map[string]any{"name": "http-metrics", "protocol": "TCP", "port": int64(10254), "targetPort": int64(10254)},
	})
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		name := "flyte-actors-pool"
		if kind == "RoleBinding" {
			name += "-endpoint"
		}
		binding := r.Object(kind, name)
		wantEqual(t, kind+" subjects", lookup(t, binding.Object, "subjects"), []any{
			map[string]any{"kind": "ServiceAccount", "name": "flytepropeller", "namespace": "flyte"},
		})
	}
	policy := r.Object("NetworkPolicy", "flyte-actors-executor-port")
	wantEqual(t, "NetworkPolicy ingress", lookup(t, policy.Object, "spec", "ingress"), []any{
		map[string]any{
			"from": []any{map[string]any{
				"namespaceSelector": map[string]any{},
				"podSelector": map[string]any{
					"matchLabels":      map[string]any{"actors.flyte.org/role": "executor"},
					"matchExpressions": []any{map[string]any{"key": "actors.flyte.org/environment", "operator": "Exists"}},
				},
			}},
			"ports": []any{map[string]any{"protocol": "TCP", "port": int64(8089)}},
		},
		map[string]any{"ports": []any{map[string]any{"protocol": "TCP", "port": int64(10254)}}},
	})
}

func TestRenderFullValues(t *testing.T) {
	r := render(t, Release{Name: "actors", Namespace: "flyte-system"}, fullValues(t))
	wantEqual(t, "objects", r.Kinds(), []string{
		"ConfigMap/flyte-actors-full-propeller-config",
		"ConfigMap/flyte-actors-full-dashboard",
		"NetworkPolicy/flyte-actors-full-executor-port",
		"ClusterRole/flyte-actors-full-pool",
		"ClusterRoleBinding/flyte-actors-full-pool",
		"Role/flyte-actors-full-pool-endpoint",
		"RoleBinding/flyte-actors-full-pool-endpoint",
		"Service/flyte-actors-full",
		"ServiceMonitor/flyte-actors-full",
	})
	for _, o := range r.Objects {
		if o.GetLabels()["team"] != "ml-platform" || o.GetLabels()["app.kubernetes.io/name"] != "actors" {
			t.Errorf("%s/%s: labels %v lack commonLabels or nameOverride", o.GetKind(), o.GetName(), o.GetLabels())
		}
	}
	config := propellerConfig(t, r)
	wantEqual(t, "queue type", lookup(t, config, "propeller", "queue", "type"), "simple")
	wantEqual(t, "max streak length", normalizeNumbers(lookup(t, config, "propeller", "max-streak-length")), int64(48))
	actor := lookup(t, config, "plugins", "actor").(map[string]any)
	for key, want := range map[string]any{
		"listen-address": ":9089", "advertise-address": "actors.flyte.example.com:9089",
		"executor-image":             "registry.example.com/flyteactors/actor-executor:v0.1.0-rc1",
		"executor-image-pull-policy": "Always", "executor-command": []any{"/usr/local/bin/actor-executor"},
		"start-timeout": "3m", "warmup-timeout": "2m", "default-ttl": "5m", "heartbeat-interval": "10s",
		"missed-heartbeats": int64(4), "resync-interval": "1m", "reconnect-grace": "45s", "orphan-grace": "5m",
		"forget-after": "2h", "max-retry-interval": "10m", "max-replicas": int64(20), "max-parallelism": int64(8),
		"max-ttl": "6h", "max-executors-per-namespace": int64(30), "queue-order": "fifo", "metrics-environments": int64(40),
		"wait-in-round": map[string]any{"max-wait": "40ms", "max-waiting": int64(3)},
		"prewarm":       map[string]any{"enabled": false, "max-environments": int64(4)},
		"tls": map[string]any{"mode": "files", "cert-file": "/etc/actors/tls/tls.crt",
			"key-file": "/etc/actors/tls/tls.key", "ca-file": "/etc/actors/tls/ca.crt"},
	} {
		wantEqual(t, "plugins.actor."+key, normalizeNumbers(actor[key]), want)
	}
	monitor := r.Object("ServiceMonitor", "flyte-actors-full")
	wantEqual(t, "ServiceMonitor endpoints", lookup(t, monitor.Object, "spec", "endpoints"), []any{
		map[string]any{"port": "http-metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"},
	})
	wantEqual(t, "ServiceMonitor release label", monitor.GetLabels()["release"], "kube-prometheus-stack")
	policy := r.Object("NetworkPolicy", "flyte-actors-full-executor-port")
	metrics := lookup(t, policy.Object, "spec", "ingress").([]any)[1].(map[string]any)
	wantEqual(t, "metrics port peers", metrics["from"], []any{map[string]any{
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}},
		"podSelector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "prometheus"}},
	}})
}

// normalizeNumbers makes YAML integers (in maps too) comparable whatever Go type the decoder chose.
func normalizeNumbers(v any) any {
	switch n := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, e := range n {
			out[k] = normalizeNumbers(e)
		}
		return out
	case int:
		return int64(n)
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return v
}

func yamlText(v any) string {
	out, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(out))
}

// flyteCoreValues returns the flyte-core values NOTES.txt tells the operator to add.
func flyteCoreValues(t *testing.T, notes string) map[string]any {
	t.Helper()
	values, err := (&Rendered{Notes: notes}).FlyteCoreValues()
	if err != nil {
		t.Fatal(err)
	}
	return values
}

// TestNotesWireFlyteCore: the flyte-core values NOTES.txt prints swap propeller's image, mount the
// chart's ConfigMap where propeller's config pattern finds it after flyte-core's own files, and in files
// mode mount the TLS Secret where the configuration looks for the certificate.
func TestNotesWireFlyteCore(t *testing.T) {
	r := render(t, Release{Name: "actors", Namespace: "flyte-system"}, fullValues(t))
	values := flyteCoreValues(t, r.Notes)
	propeller := values["flytepropeller"].(map[string]any)
	wantEqual(t, "image", propeller["image"], map[string]any{
		"repository": "registry.example.com/flyteactors/flytepropeller", "tag": "v0.1.0-rc1"})
	pattern := propeller["configPath"].(string)
	mounts := map[string]string{}
	for _, m := range propeller["additionalVolumeMounts"].([]any) {
		mount := m.(map[string]any)
		mounts[mount["name"].(string)] = mount["mountPath"].(string)
	}
	volumes := map[string]map[string]any{}
	for _, v := range propeller["additionalVolumes"].([]any) {
		volume := v.(map[string]any)
		volumes[volume["name"].(string)] = volume
	}
	// flyte-core mounts its own ConfigMap at /etc/flyte/config; propeller merges matches in name order.
	flyteCoreFile, chartFile := "/etc/flyte/config/core.yaml", filepath.Join(mounts["flyte-actors-config"], ConfigFile)
	for _, f := range []string{flyteCoreFile, chartFile} {
		if ok, _ := filepath.Match(pattern, f); !ok {
			t.Errorf("configPath %q does not find %s", pattern, f)
		}
	}
	if filepath.Dir(chartFile) <= filepath.Dir(flyteCoreFile) {
		t.Errorf("the chart's file %s does not sort after flyte-core's %s: flyte-core's would win", chartFile, flyteCoreFile)
	}
	wantEqual(t, "config volume", volumes["flyte-actors-config"]["configMap"], map[string]any{"name": "flyte-actors-full-propeller-config"})
	wantEqual(t, "TLS volume", volumes["flyte-actors-tls"]["secret"], map[string]any{"secretName": "flyte-actors-cert"})
	certFile := lookup(t, propellerConfig(t, r), "plugins", "actor", "tls", "cert-file").(string)
	if filepath.Dir(certFile) != filepath.Clean(mounts["flyte-actors-tls"]) {
		t.Errorf("cert-file %s is not in the TLS Secret's mount %s", certFile, mounts["flyte-actors-tls"])
	}

	defaults := flyteCoreValues(t, render(t, defaultRelease, requiredValues()).Notes)["flytepropeller"].(map[string]any)
	if len(defaults["additionalVolumes"].([]any)) != 1 {
		t.Errorf("auto TLS mode mounts more than the ConfigMap: %v", defaults["additionalVolumes"])
	}
}

// TestMergedConfigEnablesEveryPluginPlusActor: flyte-core's propeller configuration, with the values
// NOTES.txt prints applied as helm applies them, loaded with the chart's file the way propeller loads
// them (flytestdlib, in name order), enables every plugin flyte-core enabled and actor, and keeps every
// task type's plugin; the printed checksum changes with the chart's configuration, so that upgrading
// flyte-core with the printed values restarts propeller.
func TestMergedConfigEnablesEveryPluginPlusActor(t *testing.T) {
	flyteCore, err := ValuesFile(filepath.Join("testdata", "flyte-core-enabled-plugins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := render(t, defaultRelease, requiredValues())
	merged, err := MergedTaskPlugins(flyteCore, r)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "enabled plugins", merged.EnabledPlugins, []string{"container", "sidecar", "k8s-array", "actor"})
	wantEqual(t, "default for task types", merged.DefaultForTaskTypes, map[string]string{
		"container": "container", "sidecar": "sidecar", "container_array": "k8s-array", "actor": "actor", "fast-task": "actor"})

	checksum := func(r *Rendered) any {
		return lookup(t, flyteCoreValues(t, r.Notes), "flytepropeller", "podAnnotations", "checksum/flyte-actors-config")
	}
	changed := requiredValues()
	changed["pool"] = map[string]any{"startTimeout": "3m"}
	if checksum(r) == checksum(render(t, defaultRelease, changed)) {
		t.Error("the checksum NOTES.txt prints does not change with the chart's configuration")
	}
	if checksum(r) != checksum(render(t, defaultRelease, requiredValues())) {
		t.Error("the checksum changes without a change")
	}
}
