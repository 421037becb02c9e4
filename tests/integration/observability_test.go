package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/plugin"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// sample is one line of propeller's /metrics: a metric, its labels and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads propeller's metrics endpoint, as Prometheus would.
func scrape(t *testing.T, stack *harness.Stack) []sample {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", stack.PropellerProfPort()))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, line)
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// metricSum adds up the samples of the actor plugin's metric name (e.g. "pool:attempts_ended") whose
// labels include want.
func metricSum(samples []sample, name string, want map[string]string) float64 {
	total := 0.0
	for _, s := range samples {
		if !strings.HasSuffix(s.name, ":actor:"+name) {
			continue
		}
		matches := true
		for k, v := range want {
			matches = matches && s.labels[k] == v
		}
		if matches {
			total += s.value
		}
	}
	return total
}

// TestObservabilityMetricsCountWhatRan: after a chain of three actor tasks run cold and again warm, the
// metrics propeller serves (what an operator's Prometheus scrapes) say what ran, labelled by the
// environment, its project and domain.
func TestObservabilityMetricsCountWhatRan(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	for range 2 {
		_, err := stack.Run(ctx, reg, "actors.chain.chain", x, 5*time.Minute)
		require.NoError(t, err)
	}
	samples := scrape(t, stack)
	env := map[string]string{"environment": "chain-actor", "project": "flytesnacks", "domain": "development"}
	with := func(k, v string) map[string]string {
		out := map[string]string{k: v}
		for key, value := range env {
			out[key] = value
		}
		return out
	}
	for name, want := range map[string]float64{
		"pool:attempts_ended":               6,
		"pool:queue_wait_seconds_count":     6,
		"pool:dispatch_seconds_count":       6,
		"pool:task_run_seconds_count":       6,
		"pool:executor_start_seconds_count": 1,
		"pool:environment_replicas":         1,
		"pool:environment_attempts_queued":  0,
		"pool:environment_attempts_running": 0,
		"pool:executors_lost":               0,
		"pool:runtime_restarts":             0,
		"pool:executor_pod_problems":        0,
		"pool:environment_executors":        1,
	} {
		assert.Equal(t, want, metricSum(samples, name, env), name)
	}
	assert.Equal(t, 6.0, metricSum(samples, "pool:attempts_ended", with("outcome", "succeeded")))
	assert.Equal(t, 1.0, metricSum(samples, "pool:assignments", with("runtime", "cold")), "the first task on the executor's runtime")
	assert.Equal(t, 5.0, metricSum(samples, "pool:assignments", with("runtime", "warm")), "reuse: the other five")
	assert.Equal(t, 1.0, metricSum(samples, "pool:environment_executors", with("state", "idle")))
	assert.Equal(t, 1.0, metricSum(samples, "pool:environment_events", with("event", "started")))
	assert.Equal(t, 1.0, metricSum(samples, "prewarm:environments", nil), "the first workflow's start prewarmed the environment")
	assert.Equal(t, 2.0, metricSum(samples, "prewarm:workflows", nil))
	// The executor took as long as its pod to start, and the tasks ran as long as the executor said.
	assert.Greater(t, metricSum(samples, "pool:executor_start_seconds_sum", env), 0.0)
	assert.Greater(t, metricSum(samples, "pool:task_run_seconds_sum", env), 0.0)
}

// TestObservabilityStatusPageDuringARun: while one actor task runs and another waits for the one
// executor, propeller's status page (/actors/status on its metrics port) shows the environment, its
// executor running the first task, the second queued and why, and none of the environment's secrets.
func TestObservabilityStatusPageDuringARun(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	seconds := map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(4.0)}
	first, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds)
	require.NoError(t, err)
	running := waitForSpan(ctx, t, stack, first.Name+"-", false, time.Minute)
	second, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds)
	require.NoError(t, err)

	var status plugin.Status
	require.Eventually(t, func() bool {
		status = readStatus(t, stack)
		return len(status.Environments) == 1 && status.Environments[0].Queued == 1
	}, 30*time.Second, 50*time.Millisecond, "the second task queued: %+v", status)
	e := status.Environments[0]
	assert.Equal(t, []any{"sleepy-actor", stack.Namespace, "flytesnacks", "development", "running", 1, 1},
		[]any{e.Name, e.Namespace, e.Project, e.Domain, e.State, e.Replicas, e.Running})
	require.Len(t, e.Executors, 1)
	assert.Equal(t, running.Pod, e.Executors[0].Pod)
	assert.Equal(t, "busy", e.Executors[0].State)
	assert.Equal(t, []string{running.TaskID}, e.Executors[0].Tasks, "the executor's current task")
	assert.Equal(t, "queued: 1 task ahead in environment sleepy-actor (1/1 executors ready, all busy)", e.Waiting,
		"a task submitted now would wait behind the queued one")
	assert.Equal(t, 1, status.Totals.Queued)

	// Nothing secret: the environment's secret and the executor's token are in its anchor Secret.
	raw, err := json.Marshal(status)
	require.NoError(t, err)
	anchors, err := stack.Kube.CoreV1().Secrets(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kubepods.LabelRole + "=" + kubepods.RoleAnchor})
	require.NoError(t, err)
	require.NotEmpty(t, anchors.Items)
	for _, a := range anchors.Items {
		for key, value := range a.Data {
			if len(value) >= 8 {
				assert.NotContains(t, string(raw), string(value), "the anchor's %s", key)
			}
		}
	}
	require.NoError(t, first.Wait(ctx, time.Minute))
	require.NoError(t, second.Wait(ctx, time.Minute))
}

// readStatus reads propeller's status page.
func readStatus(t *testing.T, stack *harness.Stack) plugin.Status {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", stack.PropellerProfPort(), plugin.StatusPath))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s plugin.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

// TestObservabilityReasonsInTaskEvents: what the Flyte UI shows of an actor task's phases (its task
// events' reasons) says in words why it waits and where it runs, and operators find what happened to
// an executor in its pod's Kubernetes events: a task waiting for a cold environment says how many
// executors are ready, one behind a running task how many tasks are ahead, a running one its executor,
// and one whose executor cannot pull its image what the pod says.
func TestObservabilityReasonsInTaskEvents(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors", "executorpods")
	seconds := map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(3.0)}
	first, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds)
	require.NoError(t, err)
	waitForSpan(ctx, t, stack, first.Name+"-", false, time.Minute)
	second, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds)
	require.NoError(t, err)
	unpullable, err := stack.Launch(ctx, reg, "executorpods.cannot_start.unpullable_image_wf", nil)
	require.NoError(t, err)
	require.NoError(t, first.Wait(ctx, time.Minute))
	require.NoError(t, second.Wait(ctx, time.Minute))

	assert.True(t, containsAny(eventReasons(stack, first, idlcore.TaskExecution_WAITING_FOR_RESOURCES),
		"waiting for executors: 0/1 ready in environment sleepy-actor"), "%q", eventReasons(stack, first, idlcore.TaskExecution_WAITING_FOR_RESOURCES))
	running := eventReasons(stack, first, idlcore.TaskExecution_RUNNING)
	assert.True(t, containsAny(running, "running on actor-sleepy-actor-"), "%q", running)
	queued := eventReasons(stack, second, idlcore.TaskExecution_QUEUED)
	assert.True(t, containsAny(queued, "queued: no task ahead in environment sleepy-actor (1/1 executors ready, all busy)"), "%q", queued)

	var pulling []string
	require.Eventually(t, func() bool {
		pulling = eventReasons(stack, unpullable, idlcore.TaskExecution_WAITING_FOR_RESOURCES)
		return containsAny(pulling, "ImagePullBackOff")
	}, time.Minute, 100*time.Millisecond, "%q", pulling)
	assert.True(t, containsAny(pulling, "waiting for executors: 0/1 ready in environment unpullable-image (pod actor-unpullable-image-"), "%q", pulling)
	require.NoError(t, unpullable.Abort(ctx, "seen enough"))

	// Where operators look: the executor pods' own events.
	events, err := stack.Kube.CoreV1().Events(stack.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"})
	require.NoError(t, err)
	byReason := map[string][]string{}
	for _, e := range events.Items {
		byReason[e.Reason] = append(byReason[e.Reason], e.InvolvedObject.Name+": "+e.Message)
	}
	assert.True(t, containsAny(byReason["ExecutorConnected"], "actor-sleepy-actor-"), "%v", byReason)
	assert.True(t, containsAny(byReason[kubepods.EventExecutorPodProblem], "ImagePullBackOff"), "%v", byReason)
}

// eventReasons returns the reasons of exec's task events in phase.
func eventReasons(stack *harness.Stack, exec *harness.Execution, phase idlcore.TaskExecution_Phase) []string {
	var reasons []string
	for _, e := range stack.Admin.TaskEvents(exec.Name) {
		if e.GetPhase() == phase {
			for _, r := range e.GetReasons() {
				reasons = append(reasons, r.GetReason())
			}
		}
	}
	return reasons
}
