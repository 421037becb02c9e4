package integration

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// executorSpans returns, for each executor pod of the stack, the actor tasks it ran (from the
// executor's own log banners).
func executorSpans(ctx context.Context, t *testing.T, stack *harness.Stack) map[string][]harness.TaskSpan {
	t.Helper()
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	spans := map[string][]harness.TaskSpan{}
	for _, pod := range pods {
		spans[pod.Name] = harness.ActorTaskSpans(stack.Kubelet.Logs(pod.Namespace + "/" + pod.Name))
	}
	return spans
}

// stringOf returns the string value of a literal.
func stringOf(l *idlcore.Literal) string { return l.GetScalar().GetPrimitive().GetStringValue() }

// intOf returns the integer value of a literal.
func intOf(l *idlcore.Literal) int64 { return l.GetScalar().GetPrimitive().GetInteger() }
