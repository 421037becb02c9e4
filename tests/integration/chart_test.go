package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/chart"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// stackNamespace is the stack's one namespace, where its executions run. The chart is rendered for a
// release there: in a cluster that is propeller's namespace, which the TLS Secret goes to, and the
// stack's namespace exists before propeller starts.
const stackNamespace = "flytesnacks-development"

// TestChartConfigRunsActorWorkflow runs FlytePropeller with the configuration the flyte-actors chart
// renders: the chart's ConfigMap file, unchanged, loaded after the harness's own as a cluster loads it
// after flyte-core's; the harness's file then plays flyte-core's (its plugin list, with actor added as the
// chart's NOTES.txt asks) and sets no plugins.actor. What differs
// from a cluster goes in through the chart's own values: the executor port and address (a loopback
// port), and the executor image (the stack's, which the local kubelet injects from like any other). An
// actor workflow then runs on it, in one warm executor.
func TestChartConfigRunsActorWorkflow(t *testing.T) {
	ctx := context.Background()
	repository, tag, _ := strings.Cut(harness.ExecutorImage, ":")
	dir, err := chart.Dir()
	require.NoError(t, err)
	port, err := harness.FreePort()
	require.NoError(t, err)
	rendered, err := chart.Render(dir, chart.Release{Name: "flyte-actors", Namespace: stackNamespace}, map[string]any{
		"executorService": map[string]any{"port": port, "advertiseAddress": fmt.Sprintf("127.0.0.1:%d", port)},
		"executor":        map[string]any{"image": map[string]any{"repository": repository, "tag": tag}},
		"propeller":       map[string]any{"image": map[string]any{"repository": "localhost/flytepropeller"}},
	})
	require.NoError(t, err)
	config, err := rendered.PropellerConfig()
	require.NoError(t, err)
	t.Logf("the chart's propeller configuration:\n%s", config)

	stack := harness.Start(t, workflowSrc(t), harness.Options{PropellerConfig: config})
	require.Equal(t, stackNamespace, stack.Namespace, "the stack's namespace moved: render the chart for the new one")
	reg, err := stack.Serialize(ctx, workflowSrc(t), "localhost/flytekit:local", "actors")
	require.NoError(t, err)

	exec, err := stack.Run(ctx, reg, "actors.chain.chain", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}, 3*time.Minute)
	require.NoError(t, err)
	value, pids := chainOutputs(exec)
	assert.Equal(t, int64(44), value)
	assert.Len(t, pids, 1, "all three tasks ran in one warm executor: %v", pids)
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "one executor pod, no pod per task")
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	require.Len(t, pods[0].Spec.InitContainers, 1, "the executor is injected from the chart's executor image")
	assert.Equal(t, harness.ExecutorImage, pods[0].Spec.InitContainers[0].Image)

	// The pool took its TLS settings from the chart: auto mode, the chart's Secret in the release's
	// namespace.
	secret, err := stack.Kube.CoreV1().Secrets(stackNamespace).Get(ctx, "flyte-actors-tls", metav1.GetOptions{})
	require.NoError(t, err, "the pool keeps its CA in the Secret the chart names")
	assert.NotEmpty(t, secret.Data["ca.crt"])
	t.Logf("actor workflow on the chart's configuration took %s", exec.Duration())
}
