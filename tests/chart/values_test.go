package chart

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/flyteactors/flyteactors/plugin"
)

// TestFullValuesSetEveryValue keeps testdata/full-values.yaml full: every value of values.yaml is set
// there, and away from its default unless turning it off would hide objects the full render checks.
func TestFullValuesSetEveryValue(t *testing.T) {
	defaults, err := ValuesFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	keptOn := []string{"rbac.create", "networkPolicy.enabled", "executor.inject"}
	full := leaves(fullValues(t), "")
	for path, def := range leaves(defaults, "") {
		got, ok := full[path]
		if !ok && isEmptyMap(def) {
			ok = slices.ContainsFunc(mapsKeys(full), func(p string) bool { return strings.HasPrefix(p, path+".") })
			got = nil
		}
		switch {
		case !ok:
			t.Errorf("full-values.yaml does not set %s", path)
		case got != nil && reflect.DeepEqual(got, def) && !slices.Contains(keptOn, path):
			t.Errorf("full-values.yaml sets %s to its default %v", path, def)
		}
	}
}

// leaves flattens values into dotted paths of scalars, lists and empty maps; a map of labels counts as
// one value.
func leaves(values map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range values {
		path := prefix + k
		if m, ok := v.(map[string]any); ok && len(m) > 0 && !isLabelMap(path) {
			for p, leaf := range leaves(m, path+".") {
				out[p] = leaf
			}
			continue
		}
		out[path] = v
	}
	return out
}

func isLabelMap(path string) bool {
	return slices.Contains([]string{"propeller.podSelector", "commonLabels", "serviceMonitor.labels"}, path)
}

func isEmptyMap(v any) bool { m, ok := v.(map[string]any); return ok && len(m) == 0 }

func mapsKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// TestSchemaRejectsMistakes: a misspelt key or a wrong value fails the install with a message naming it.
func TestSchemaRejectsMistakes(t *testing.T) {
	for _, c := range []struct{ name, values, want string }{
		{"misspelt top-level key", "tsl: {mode: files}", "tsl"},
		{"misspelt nested key", "pool: {startTimout: 5m}", "startTimout"},
		{"misspelt deep key", "tls: {files: {secretname: x}}", "secretname"},
		{"port as a string", `executorService: {port: "8089"}`, "port"},
		{"port out of range", "executorService: {port: 70000}", "port"},
		{"not a duration", "pool: {reconnectGrace: 20}", "reconnectGrace"},
		{"unitless duration", "limits: {maxTTL: '24'}", "maxTTL"},
		{"unknown TLS mode", "tls: {mode: manual}", "mode"},
		{"files mode without a Secret", "tls: {mode: files}", "secretName"},
		{"plugins without actor", "propeller: {enabledPlugins: [container, sidecar]}", "enabledPlugins"},
		{"unknown pull policy", "executor: {image: {pullPolicy: Sometimes}}", "pullPolicy"},
		{"advertise address without a port", "executorService: {advertiseAddress: flyte-actors.flyte}", "advertiseAddress"},
	} {
		t.Run(c.name, func(t *testing.T) {
			values, err := chartutil.ReadValues([]byte(c.values))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Render(chartDir(t), defaultRelease, values.AsMap())
			if err == nil {
				t.Fatalf("values %q rendered; want a schema error", c.values)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not name %q:\n%v", c.want, err)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// TestChartDefaultsArePluginDefaults: every plugins.actor key the chart writes is one the plugin has,
// and with default values it writes the plugin's own default, except where the chart knows better
// (the address of its Service, its executor image, the namespace it is installed in, publishing the
// pool's endpoint on that Service).
func TestChartDefaultsArePluginDefaults(t *testing.T) {
	ownValue := map[string]bool{"advertise-address": true, "executor-image": true, "tls.secret-namespace": true,
		"endpoint.publish": true, "endpoint.namespace": true}
	flags := plugin.Config{}.GetPFlagSet("")
	actor := lookup(t, propellerConfig(t, render(t, defaultRelease, requiredValues())), "plugins", "actor").(map[string]any)
	written := leaves(actor, "")
	for key, value := range written {
		flag := flags.Lookup(key)
		if flag == nil {
			t.Errorf("the chart writes plugins.actor.%s, which the plugin does not have (propeller loads its configuration leniently and would ignore it)", key)
			continue
		}
		if ownValue[key] {
			continue
		}
		if !sameSetting(value, flag.DefValue) {
			t.Errorf("plugins.actor.%s: the chart's default %v is not the plugin's %s", key, value, flag.DefValue)
		}
	}
	for _, key := range []string{"listen-address", "executor-image-pull-policy", "start-timeout", "reconnect-grace", "tls.mode", "tls.secret-name"} {
		if _, ok := written[key]; !ok {
			t.Errorf("the chart does not write plugins.actor.%s", key)
		}
	}
}

// sameSetting compares a YAML value with a pflag default: durations by their length, lists by their
// items (pflag shows "[a,b]"), everything else as text.
func sameSetting(value any, flagDefault string) bool {
	if s, ok := value.(string); ok {
		d1, err1 := time.ParseDuration(s)
		d2, err2 := time.ParseDuration(flagDefault)
		if err1 == nil && err2 == nil {
			return d1 == d2
		}
	}
	if list, ok := value.([]any); ok {
		items := make([]string, len(list))
		for i, item := range list {
			items[i] = item.(string)
		}
		return "["+strings.Join(items, ",")+"]" == flagDefault
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(yamlText(value), "'"), "'")) == flagDefault
}
