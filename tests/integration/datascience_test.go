package integration

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestUserImageWithOnlyFlytekitRunsActorTasks: a task image with Python and flytekit and nothing of
// this project (flytekit's default image's kind) runs actor tasks: the executor brings flyteactors,
// installed beside itself by the init container, and both the runtime and the task's own code (which
// imports flyteactors) use it. Once per flytekit version the project is tested on (make venv-matrix):
// the oldest and the newest 1.x that work.
func TestUserImageWithOnlyFlytekitRunsActorTasks(t *testing.T) {
	versions, err := harness.FlytekitVersions()
	require.NoError(t, err)
	require.NotEmpty(t, versions, "no flytekit-only virtualenvs: run make venv-matrix")
	ctx := context.Background()
	stack := harness.Start(t, workflowSrc(t), harness.Options{})
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	for _, version := range versions {
		t.Run("flytekit "+version, func(t *testing.T) {
			reg, err := stack.SerializeVersion(ctx, workflowSrc(t), harness.FlytekitOnlyImage(version), "fk-"+version, "actors")
			require.NoError(t, err)
			stack.Register(reg)
			exec, err := stack.Run(ctx, reg, "actors.versions.report", nil, 3*time.Minute)
			require.NoError(t, err)
			out := exec.Outputs.GetLiterals()
			assert.Equal(t, version, stringOf(out["o0"]), "the task ran on the image's flytekit")
			pkg := stringOf(out["o1"])
			assert.True(t, strings.HasSuffix(pkg, "/python/flyteactors"), "flyteactors from the executor's install: %s", pkg)
			assert.False(t, strings.HasPrefix(pkg, root), "not the repository's own: %s", pkg)
			pod := startedTaskPod(ctx, stack, exec.Name)
			require.NotEmpty(t, pod)
			assert.Contains(t, strings.Join(stack.Kubelet.Logs(stack.Namespace+"/"+pod), "\n"), "runtimes run flyteactors 0.1.0 from",
				"the executor says which flyteactors its runtimes run")
		})
	}
}

// TestLogLinksPointAtTheTasksWindow: an actor task's events, as flyteadmin receives them, carry log
// links built with Flyte's tasklog templates: the executor pod's log, from the task's own start to its
// end (plugins.logs' template and the plugin's own, which also names the attempt), and the executor pod
// and its environment as custom info.
func TestLogLinksPointAtTheTasksWindow(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	exec, err := stack.Run(ctx, reg, "actors.sleepy.sleepy", map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(2.0)}, 3*time.Minute)
	require.NoError(t, err)
	span := waitForSpan(ctx, t, stack, exec.Name+"-", true, time.Minute)

	var succeeded bool
	for _, e := range stack.Admin.TaskEvents(exec.Name) {
		if e.GetPhase() != idlcore.TaskExecution_SUCCEEDED {
			continue
		}
		succeeded = true
		assert.Equal(t, span.Pod, e.GetCustomInfo().AsMap()["executorPod"], "the executor pod is in the event's custom info")
		assert.NotEmpty(t, e.GetCustomInfo().AsMap()["environmentId"])
		links := map[string]string{}
		for _, l := range e.GetLogs() {
			links[l.GetName()] = l.GetUri()
		}
		require.Contains(t, links, "Actor task logs", "the plugin's own template: %v", links)
		require.Contains(t, links, "Pod logs", "plugins.logs' template, as for pods: %v", links)
		for name, link := range links {
			u, err := url.Parse(link)
			require.NoError(t, err)
			assert.Equal(t, "/"+stack.Namespace+"/"+span.Pod+"/actor", u.Path, "%s: the executor pod's container", name)
			since, err := strconv.ParseInt(u.Query().Get("since"), 10, 64)
			require.NoError(t, err, link)
			until, err := strconv.ParseInt(u.Query().Get("until"), 10, 64)
			require.NoError(t, err, link)
			assert.LessOrEqual(t, since, span.Start.Unix(), "%s begins by the task's start", name)
			assert.GreaterOrEqual(t, since, span.Start.Unix()-1, "%s begins at the task's start, not the pod's", name)
			assert.GreaterOrEqual(t, until, span.End.Unix(), "%s ends at the task's end", name)
			assert.LessOrEqual(t, until, span.End.Unix()+2, "%s ends at the task's end", name)
		}
		assert.Equal(t, span.TaskID, mustQuery(t, links["Actor task logs"], "task"), "the attempt, to find its frame in the log")
	}
	assert.True(t, succeeded, "propeller sent the task's success")
}

func mustQuery(t *testing.T, link, key string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.Query().Get(key)
}

// TestTaskOutputIsFramedInTheExecutorLog: what a task prints appears in its executor pod's log between
// the executor's start and end lines for that task, so it can be found (the log links name the attempt).
func TestTaskOutputIsFramedInTheExecutorLog(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	exec, err := stack.Run(ctx, reg, "actors.shout.shouting", map[string]*idlcore.Literal{"word": coreutils.MustMakeLiteral("framed")}, 3*time.Minute)
	require.NoError(t, err)
	span := waitForSpan(ctx, t, stack, exec.Name+"-", true, time.Minute)
	lines := stack.Kubelet.Logs(stack.Namespace + "/" + span.Pod)
	start, end := -1, -1
	var inside []string
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "=== actor task "+span.TaskID+": start"):
			start = i
		case strings.HasPrefix(line, "=== actor task "+span.TaskID+": end"):
			end = i
		case start >= 0 && end < 0:
			inside = append(inside, line)
		}
	}
	require.True(t, start >= 0 && end > start, "the task's frame is in the log")
	for i := range 3 {
		assert.Contains(t, inside, "shouting framed "+strconv.Itoa(i), "the task's own line inside its frame")
	}
	for _, line := range lines[:start] {
		assert.NotContains(t, line, "shouting framed", "nothing of the task before its frame")
	}
}
