package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/chart"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// chartPoolRole is the ClusterRole the flyte-actors chart renders for the pool.
func chartPoolRole(t *testing.T) *rbacv1.ClusterRole {
	dir, err := chart.Dir()
	require.NoError(t, err)
	rendered, err := chart.Render(dir, chart.Release{Name: "flyte-actors", Namespace: "flyte"}, chart.RequiredValues())
	require.NoError(t, err)
	object := rendered.Object("ClusterRole", "flyte-actors-pool")
	require.NotNil(t, object, "the chart renders the pool's ClusterRole")
	role := &rbacv1.ClusterRole{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(object.Object, role))
	return role
}

// TestExecutorPodPropellerRunsUnderTheMinimalRole: FlytePropeller, as its
// ServiceAccount, with what a stock propeller needs and the chart's ClusterRole for the pool and nothing
// more, runs actor tasks (TLS, anchors, executor pods, their watch, events) and pod tasks. That each
// verb of the chart's role is needed is tests/chart's TestPoolRBACIsEnoughAndNoMore; without the role
// at all, propeller does not start (its TLS Secret is forbidden) and says so.
func TestExecutorPodPropellerRunsUnderTheMinimalRole(t *testing.T) {
	ctx := context.Background()
	stack := harness.Start(t, workflowSrc(t), harness.Options{PropellerRoles: []*rbacv1.ClusterRole{chartPoolRole(t)}})
	reg, err := stack.Serialize(ctx, workflowSrc(t), "localhost/flytekit:local", "actors", "basics")
	require.NoError(t, err)
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}
	actors, err := stack.Run(ctx, reg, "actors.chain.chain", x, 3*time.Minute)
	require.NoError(t, err)
	value, pids := chainOutputs(actors)
	assert.Equal(t, int64(44), value)
	assert.Len(t, pids, 1)
	_, err = stack.Run(ctx, reg, "basics.chain.chain", x, 3*time.Minute)
	require.NoError(t, err, "pod tasks work too")
	log, err := stack.PropellerLog()
	require.NoError(t, err)
	assert.NotContains(t, log, "is forbidden", "propeller was refused nothing")
}
