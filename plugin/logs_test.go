package plugin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/tasklog"
	"github.com/flyteorg/flyte/flyteplugins/tests"

	"github.com/flyteactors/flyteactors/actorpool"
)

// TestLogLinksPointAtTheExecutorPodForTheTasksWindow: an actor task's events carry log links built by
// Flyte's tasklog from plugins.logs and the plugin's own templates: the executor pod and its container,
// limited to the task's own start and end; the pod and environment are its custom info.
func TestLogLinksPointAtTheExecutorPodForTheTasksWindow(t *testing.T) {
	cfg := defaultConfig
	cfg.LogTemplates = []tasklog.TemplateLogPlugin{{DisplayName: "Actor logs", TemplateURIs: []tasklog.TemplateURI{
		"https://logs.example/{{ .namespace }}/{{ .podName }}/{{ .containerName }}?from={{ .podUnixStartTime }}&to={{ .podUnixFinishTime }}&task={{ .actorTaskID }}"}}}
	var window [2]int64
	h := newHarnessWith(t, cfg, func(actorpool.Assignment) *actorpool.Failure {
		window[0] = time.Now().Unix()
		time.Sleep(1100 * time.Millisecond) // a window of whole seconds
		window[1] = time.Now().Unix()
		return nil
	})
	expected := &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"o0": coreutils.MustMakeLiteral(42)}}
	phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{"replica_count": 1}),
		&idlcore.LiteralMap{}, expected, nil, h.connectOnFirstSubmit(t))
	require.True(t, phase.Phase().IsSuccess())
	var link string
	for _, l := range phase.Info().Logs {
		if l.GetName() == "Actor logs" {
			link = l.GetUri()
		}
	}
	require.NotEmpty(t, link, "the plugin's own template: %v", phase.Info().Logs)
	task := h.executor.link.Assignments()[0].TaskID
	assert.True(t, strings.HasPrefix(link, "https://logs.example/fake-development/pod-1/actor?"), link)
	var from, to int64
	var id string
	_, err := fmt.Sscanf(link[strings.Index(link, "?"):], "?from=%d&to=%d&task=%s", &from, &to, &id)
	require.NoError(t, err, link)
	assert.Equal(t, task, id)
	assert.LessOrEqual(t, from, window[0], "from the task's start")
	assert.GreaterOrEqual(t, to, window[1], "to its end")
	assert.Less(t, to-from, int64(5), "the task's window, not the pod's life")
	custom := phase.Info().CustomInfo.AsMap()
	assert.Equal(t, "pod-1", custom["executorPod"])
	assert.Equal(t, "actor", custom["executorContainer"])
	assert.NotEmpty(t, custom["environmentId"])
}
