// Package chart renders the flyte-actors Helm chart (charts/flyte-actors) with Helm's own library, the
// code `helm install` and `helm template` run: values are coalesced with values.yaml and checked against
// values.schema.json, then the templates are rendered. The chart tests and the integration test that
// runs FlytePropeller with the chart's configuration both render through it.
package chart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	taskconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/nodes/task/config"
	stdconfig "github.com/flyteorg/flyte/flytestdlib/config"
	"github.com/flyteorg/flyte/flytestdlib/config/viper"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// KubeVersion is the Kubernetes version the chart is rendered for: the API server the tests run.
const KubeVersion = "v1.34.1"

// ConfigFile is the key of the propeller configuration in the chart's ConfigMap.
const ConfigFile = "actors.yaml"

// Dir returns the chart's folder in the repository the tests run in.
func Dir() (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "charts", "flyte-actors"), nil
}

// Release names one installation of the chart.
type Release struct {
	// Name is the release name (helm install <name>).
	Name string
	// Namespace is the release namespace (helm install -n <namespace>): flyte-core's propeller's.
	Namespace string
}

// Rendered is what the chart renders for one release and set of values.
type Rendered struct {
	// Objects are the manifests, in the order of their templates' names.
	Objects []*unstructured.Unstructured
	// Notes is NOTES.txt as rendered, which helm prints after an install.
	Notes string
}

// Render renders the chart in dir for release with values on top of values.yaml, as `helm template`
// would; values that do not meet the chart's schema are an error, as they are for `helm install`.
func Render(dir string, release Release, values map[string]any) (*Rendered, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	kube, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kube
	renderValues, err := chartutil.ToRenderValues(ch, values,
		chartutil.ReleaseOptions{Name: release.Name, Namespace: release.Namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, renderValues)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	out := &Rendered{}
	for _, name := range names {
		base := filepath.Base(name)
		switch {
		case base == "NOTES.txt":
			out.Notes = files[name]
		case strings.HasPrefix(base, "_"):
		default:
			objects, err := decodeObjects(files[name])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out.Objects = append(out.Objects, objects...)
		}
	}
	return out, nil
}

// ValuesFile reads a values file as helm -f would.
func ValuesFile(path string) (map[string]any, error) {
	values, err := chartutil.ReadValuesFile(path)
	if err != nil {
		return nil, err
	}
	return values.AsMap(), nil
}

// decodeObjects decodes the YAML documents of one rendered template, skipping empty ones.
func decodeObjects(manifest string) ([]*unstructured.Unstructured, error) {
	var objects []*unstructured.Unstructured
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		json, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if string(json) == "null" {
			continue // an empty document, e.g. a template whose condition is off
		}
		// Decoded as the API machinery decodes JSON, so integers stay integers (int64).
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(json); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		objects = append(objects, obj)
	}
}

// Object returns the rendered object of kind and name, or nil.
func (r *Rendered) Object(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Kinds returns "Kind/name" of every rendered object, in order.
func (r *Rendered) Kinds() []string {
	out := make([]string, 0, len(r.Objects))
	for _, o := range r.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// PropellerConfig returns the FlytePropeller configuration file the chart renders (the ConfigFile key
// of its one ConfigMap that has it), as text.
func (r *Rendered) PropellerConfig() (string, error) {
	var found []*unstructured.Unstructured
	for _, o := range r.Objects {
		if _, has, _ := unstructured.NestedString(o.Object, "data", ConfigFile); o.GetKind() == "ConfigMap" && has {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("want one ConfigMap with %s in the chart, got %d", ConfigFile, len(found))
	}
	config, ok, err := unstructured.NestedString(found[0].Object, "data", ConfigFile)
	if err != nil || !ok {
		return "", fmt.Errorf("ConfigMap %s has no data.%s (%v)", found[0].GetName(), ConfigFile, err)
	}
	return config, nil
}

// MergedTaskPlugins returns the task plugin configuration FlytePropeller runs with when flyte-core is
// installed with flyteCoreValues plus the values r's NOTES.txt prints, and loads r's file after its
// own: the values are coalesced as helm coalesces them (a list replaces, a map merges), flyte-core's
// enabled_plugins.yaml is rendered from them, and both files are loaded by flytestdlib's loader, in the
// order propeller's configPath pattern finds them.
func MergedTaskPlugins(flyteCoreValues map[string]any, r *Rendered) (taskconfig.TaskPluginConfig, error) {
	notes, err := r.FlyteCoreValues()
	if err != nil {
		return taskconfig.TaskPluginConfig{}, err
	}
	values := chartutil.CoalesceTables(notes, flyteCoreValues)
	enabledPlugins, err := yaml.Marshal(values["configmap"].(map[string]any)["enabled_plugins"])
	if err != nil {
		return taskconfig.TaskPluginConfig{}, err
	}
	chartFile, err := r.PropellerConfig()
	if err != nil {
		return taskconfig.TaskPluginConfig{}, err
	}
	dir, err := os.MkdirTemp("", "merged-config")
	if err != nil {
		return taskconfig.TaskPluginConfig{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	for path, data := range map[string]string{"config/enabled_plugins.yaml": string(enabledPlugins), "config-actors/" + ConfigFile: chartFile} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755); err != nil {
			return taskconfig.TaskPluginConfig{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(data), 0o644); err != nil {
			return taskconfig.TaskPluginConfig{}, err
		}
	}
	root := stdconfig.NewRootSection()
	section, err := root.RegisterSection("tasks", &taskconfig.Config{})
	if err != nil {
		return taskconfig.TaskPluginConfig{}, err
	}
	accessor := viper.NewAccessor(stdconfig.Options{SearchPaths: []string{filepath.Join(dir, "config*", "*.yaml")}, RootSection: root})
	if err := accessor.UpdateConfig(context.Background()); err != nil {
		return taskconfig.TaskPluginConfig{}, fmt.Errorf("load %s: %w", dir, err)
	}
	return section.GetConfig().(*taskconfig.Config).TaskPlugins, nil
}

// FlyteCoreValues returns the flyte-core values NOTES.txt prints, parsed.
func (r *Rendered) FlyteCoreValues() (map[string]any, error) {
	start := strings.Index(r.Notes, "# flyte-core-actors.yaml\n")
	end := strings.Index(r.Notes, "# end of flyte-core-actors.yaml")
	if start < 0 || end < start {
		return nil, fmt.Errorf("NOTES.txt has no flyte-core values block:\n%s", r.Notes)
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict([]byte(r.Notes[start:end]), &values); err != nil {
		return nil, fmt.Errorf("the flyte-core values in NOTES.txt are not YAML: %w\n%s", err, r.Notes[start:end])
	}
	return values, nil
}

// RequiredValues are the values an install must give: where the two images were pushed.
func RequiredValues() map[string]any {
	return map[string]any{
		"propeller": map[string]any{"image": map[string]any{"repository": "registry.example.com/flyteactors/flytepropeller"}},
		"executor":  map[string]any{"image": map[string]any{"repository": "registry.example.com/flyteactors/actor-executor"}},
	}
}
