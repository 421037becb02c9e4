package chart

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/plugin"
)

// dashboardMetric matches a metric the dashboard queries, under its prefix variable.
var dashboardMetric = regexp.MustCompile(`\$\{prefix\}:(pool|prewarm):([a-z_]+)`)

// TestDashboardShowsEveryMetricAndOnlyThose: the Grafana dashboard the chart ships queries exactly the
// metrics the pool and lookahead prewarm export, so that neither goes stale when the other changes; its
// ConfigMap carries the label Grafana's sidecar looks for.
func TestDashboardShowsEveryMetricAndOnlyThose(t *testing.T) {
	r := render(t, Release{Name: "actors", Namespace: "flyte-system"}, fullValues(t))
	var dashboard *unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard") {
			dashboard = o
		}
	}
	require.NotNil(t, dashboard, "dashboard.enabled ships a ConfigMap")
	assert.Equal(t, "true", dashboard.GetLabels()["grafana_dashboard"])
	text, _, err := unstructured.NestedString(dashboard.Object, "data", "flyte-actors.json")
	require.NoError(t, err)
	var doc struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal([]byte(text), &doc), "the dashboard is JSON")
	assert.Equal(t, "Flyte Actors", doc.Title)

	queried := map[string]bool{}
	for _, p := range doc.Panels {
		for _, target := range p.Targets {
			for _, m := range dashboardMetric.FindAllStringSubmatch(target.Expr, -1) {
				name := m[2]
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					name = strings.TrimSuffix(name, suffix)
				}
				queried[m[1]+":"+name] = true
			}
		}
	}
	var exported []string
	for _, name := range actorpool.MetricNames() {
		exported = append(exported, "pool:"+name)
	}
	for _, name := range plugin.PrewarmMetricNames() {
		exported = append(exported, "prewarm:"+name)
	}
	var shown []string
	for name := range queried {
		shown = append(shown, name)
	}
	slices.Sort(exported)
	slices.Sort(shown)
	assert.Equal(t, exported, shown, "the dashboard shows every metric, and only metrics that exist")

	defaults := render(t, defaultRelease, requiredValues())
	for _, o := range defaults.Objects {
		assert.False(t, strings.HasSuffix(o.GetName(), "-dashboard"), "no dashboard unless asked for")
	}
}

// TestDashboardWithoutExtraLabels: a dashboard whose sidecar needs no label of its own (labels: null
// drops the default) still renders a ConfigMap with the chart's labels, no "null" beside them.
func TestDashboardWithoutExtraLabels(t *testing.T) {
	values := requiredValues()
	values["dashboard"] = map[string]any{"enabled": true, "labels": nil}
	r := render(t, defaultRelease, values)
	var found bool
	for _, o := range r.Objects {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard") {
			found = true
			assert.NotContains(t, o.GetLabels(), "grafana_dashboard")
			assert.NotEmpty(t, o.GetLabels()["app.kubernetes.io/name"], "the chart's own labels")
		}
	}
	assert.True(t, found)
}
