package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// TestSecretsNeverReachLogsOrEvents: the executor service speaks TLS, and neither
// an environment's secret nor any pod's token appears in FlytePropeller's log, the executor pods'
// logs, or the Kubernetes events.
func TestSecretsNeverReachLogsOrEvents(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	_, err := stack.Run(ctx, reg, "actors.chain.chain", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(1)}, 3*time.Minute)
	require.NoError(t, err)

	anchors, err := stack.Kube.CoreV1().Secrets(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kubepods.LabelRole + "=" + kubepods.RoleAnchor})
	require.NoError(t, err)
	require.NotEmpty(t, anchors.Items)
	var secrets []string
	for _, a := range anchors.Items {
		for key, value := range a.Data {
			if key != "ca.crt" {
				secrets = append(secrets, string(value))
			}
		}
		assert.Contains(t, a.Data, "ca.crt", "executors get the CA to verify the pool with")
	}
	require.GreaterOrEqual(t, len(secrets), 2, "the environment's secret and its pod's token")

	propellerLog, err := stack.PropellerLog()
	require.NoError(t, err)
	assert.Contains(t, propellerLog, "(TLS auto,", "the executor service speaks TLS")
	var podLogs []string
	for _, pod := range stack.Kubelet.StartedPods() {
		podLogs = append(podLogs, stack.Kubelet.Logs(pod)...)
	}
	events, err := stack.Kube.CoreV1().Events(stack.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var eventText []string
	for _, e := range events.Items {
		eventText = append(eventText, e.Message)
	}
	for _, s := range secrets {
		assert.NotContains(t, propellerLog, s)
		assert.NotContains(t, strings.Join(podLogs, "\n"), s)
		assert.NotContains(t, strings.Join(eventText, "\n"), s)
	}
}
