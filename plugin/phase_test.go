package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	"github.com/flyteorg/flyte/flyteplugins/tests"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

func TestHandleReportsExecutorFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		failure   actorpool.Failure
		wantKind  idlcore.ExecutionError_ErrorKind
		wantCode  string
		retryable bool
	}{
		"lost executor": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, Code: contract.CodeExecutorLost, Message: "gone"},
			idlcore.ExecutionError_SYSTEM, contract.CodeExecutorLost, true},
		"out of memory": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, OOM: true, Code: contract.CodeRuntimeExited, Message: "killed"},
			idlcore.ExecutionError_USER, codeOOM, true},
		"user, permanent": {actorpool.Failure{Kind: actorpool.FailureUser, Code: "Bad", Message: "no"},
			idlcore.ExecutionError_USER, "Bad", false},
		"system, permanent": {actorpool.Failure{Kind: actorpool.FailureSystem, Code: "Broken", Message: "no"},
			idlcore.ExecutionError_SYSTEM, "Broken", false},
		// An executor killed with its runtime by a group OOM is OOMKilled, not lost.
		"executor lost to OOM": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, OOM: true, Code: contract.CodeExecutorLost, Message: "its pod: OOMKilled"},
			idlcore.ExecutionError_USER, codeOOM, true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(actorpool.Assignment) *actorpool.Failure { f := tc.failure; return &f })
			phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{}),
				&idlcore.LiteralMap{}, nil, nil, h.connectOnFirstSubmit(t))
			require.True(t, phase.Phase().IsFailure(), "phase %s", phase.Phase())
			assert.Equal(t, tc.retryable, phase.Phase() == pluginsCore.PhaseRetryableFailure)
			assert.Equal(t, tc.wantKind, phase.Err().GetKind())
			assert.Equal(t, tc.wantCode, phase.Err().GetCode())
		})
	}
}

// TestExitedTaskFailsAsItsPodWould: a task whose process exited non-zero (sys.exit)
// or was killed is classified by Flyte's own reading of a pod whose container ended the same way.
func TestExitedTaskFailsAsItsPodWould(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		exitCode int32
		oom      bool
	}{"sys.exit(3)": {exitCode: 3}, "killed by SIGKILL": {exitCode: 137}, "out of memory": {exitCode: 137, oom: true}} {
		t.Run(name, func(t *testing.T) {
			reason := "Error"
			if tc.oom {
				reason = flytek8s.OOMKilled
			}
			pod := corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "primary",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: tc.exitCode, Reason: reason, Message: "m"}}}}}
			want, err := flytek8s.DemystifyFailure(ctx, pod, pluginsCore.TaskInfo{}, "primary")
			require.NoError(t, err)

			got := failurePhase(ctx, actorpool.Failure{Kind: actorpool.FailureUser, Retryable: true, OOM: tc.oom,
				Code: contract.CodeEntrypointExited, Message: "m", ExitCode: tc.exitCode}, &pluginsCore.TaskInfo{})
			assert.Equal(t, want.Phase(), got.Phase())
			assert.Equal(t, want.Err().GetKind(), got.Err().GetKind())
			assert.Equal(t, want.Err().GetCode(), got.Err().GetCode())
		})
	}
}

// TestNewWaitingReasonIsANewPhaseVersion: propeller records an event only when the
// phase or its version changes, so a changed reason must change the version.
func TestNewWaitingReasonIsANewPhaseVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cluster := pooltest.NewCluster()
	cluster.FailWith(errors.New("pods are forbidden"))
	pool := actorpool.New(ctx, cluster, func(types.NamespacedName) {}, actorpool.Options{RetryInterval: time.Millisecond})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	plugin, err := New(pool, &defaultConfig, "")
	require.NoError(t, err)
	require.NoError(t, pool.Submit(ctx, pooltest.Task("a", pooltest.Spec("env", time.Hour))))
	phaseWhen := func(reason string) pluginsCore.PhaseInfo {
		var info pluginsCore.PhaseInfo
		require.Eventually(t, func() bool {
			s, _ := pool.Status("a")
			tr, err := plugin.transition(ctx, nil, s)
			require.NoError(t, err)
			info = tr.Info()
			return strings.Contains(info.Reason(), reason)
		}, 5*time.Second, 2*time.Millisecond)
		return info
	}
	forbidden := phaseWhen("pods are forbidden")
	cluster.FailWith(nil)
	starting := phaseWhen("waiting for executors")
	assert.Equal(t, pluginsCore.PhaseWaitingForResources, starting.Phase())
	assert.Greater(t, starting.Version(), forbidden.Version())
}
