package plugin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/tests"
)

// TestSpecOverThePlatformsLimitsFailsNamingTheLimit: a spec over a platform limit fails permanently, naming
// the field, its value and the limit.
func TestSpecOverThePlatformsLimitsFailsNamingTheLimit(t *testing.T) {
	for field, spec := range map[string]map[string]any{
		"plugins.actor.max-replicas":    {"replica_count": 2000000000},
		"plugins.actor.max-parallelism": {"parallelism": 1000000},
		"plugins.actor.max-ttl":         {"ttl_seconds": 10 * 365 * 24 * 3600},
	} {
		t.Run(field, func(t *testing.T) {
			h := newHarness(t, nil)
			phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, spec), &idlcore.LiteralMap{}, nil, nil, nil)
			require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
			assert.Equal(t, codeBadTaskSpec, phase.Err().GetCode())
			assert.Contains(t, phase.Err().GetMessage(), field)
			assert.Empty(t, h.cluster.Specs(), "nothing was asked of the cluster")
		})
	}
}
