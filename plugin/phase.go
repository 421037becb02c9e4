package plugin

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/ioutils"

	"github.com/flyteactors/flyteactors/actorpool"
)

// transition maps a pool status to the Flyte phase of the attempt.
func (p *Plugin) transition(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, s actorpool.TaskStatus) (pluginsCore.Transition, error) {
	info, err := p.taskInfo(ctx, tCtx, s, time.Now())
	if err != nil {
		return pluginsCore.UnknownTransition, err
	}
	switch s.Phase() {
	case actorpool.TaskQueued:
		// The version follows the waiting reason, so that propeller records (and the UI shows) each
		// new reason, not only the first.
		version := pluginsCore.DefaultPhaseVersion + s.Version
		if s.ExecutorsConnected == 0 {
			return pluginsCore.DoTransition(pluginsCore.PhaseInfoWaitingForResourcesInfo(version, s.Waiting, info)), nil
		}
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoQueuedWithTaskInfo(version, s.Waiting, info)), nil
	case actorpool.TaskAssigned:
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoInitializing(pluginsCore.DefaultPhaseVersion,
			fmt.Sprintf("assigned to executor %s", s.Executor), info)), nil
	case actorpool.TaskRunning:
		// A run adopted after a restart of the pool is Running before its start time is known; once
		// it is, the log links change, and a new version makes propeller send them on.
		version := pluginsCore.DefaultPhaseVersion
		if !s.StartedAt.IsZero() {
			version++
		}
		// PhaseInfoRunning takes no reason: Flyte's events carry it among the task info's reasons.
		since := info.OccurredAt
		if !s.StartedAt.IsZero() {
			since = &s.StartedAt
		}
		info.AdditionalReasons = []pluginsCore.ReasonInfo{{Reason: "running on " + s.Executor, OccurredAt: since}}
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoRunning(version, info)), nil
	case actorpool.TaskSucceeded:
		// Outputs, or the task's own error document, are where its pod would have left them;
		// FlytePropeller reads and checks them exactly as for a pod.
		reader := ioutils.NewRemoteFileOutputReader(ctx, tCtx.DataStore(), tCtx.OutputWriter(), 0)
		if err := tCtx.OutputWriter().Put(ctx, reader); err != nil {
			return pluginsCore.UnknownTransition, err
		}
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoSuccess(info)), nil
	case actorpool.TaskFailed:
		f, _ := s.Failure()
		return pluginsCore.DoTransition(failurePhase(ctx, f, info)), nil
	}
	return pluginsCore.UnknownTransition, fmt.Errorf("actor task in unknown pool phase %s", s.Phase())
}

// failurePhase maps a pool failure to a Flyte failure: whose fault (user or system budget) and
// whether Flyte may retry. Running out of memory is the task's to fix, as for a pod. A task whose
// process ended (it exited non-zero, or a signal killed it) is classified by Flyte's own reading of a
// pod whose container ended so, so that it fails exactly as it would have in a pod of its own.
func failurePhase(ctx context.Context, f actorpool.Failure, info *pluginsCore.TaskInfo) pluginsCore.PhaseInfo {
	code, msg := f.Code, f.Message
	switch {
	case f.ExitCode != 0:
		reason := "Error"
		if f.OOM {
			reason = flytek8s.OOMKilled
		}
		status := corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name:  executorContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: f.ExitCode, Reason: reason, Message: msg}},
		}}}
		phase, err := flytek8s.DemystifyFailure(ctx, status, *info, executorContainerName)
		if err == nil {
			return phase
		}
		return pluginsCore.PhaseInfoSystemRetryableFailure(code, msg, info)
	case f.OOM:
		return pluginsCore.PhaseInfoRetryableFailure(codeOOM, msg, info)
	case f.Kind == actorpool.FailureUser && f.Retryable:
		return pluginsCore.PhaseInfoRetryableFailure(code, msg, info)
	case f.Kind == actorpool.FailureUser:
		return pluginsCore.PhaseInfoFailure(code, msg, info)
	case f.Retryable:
		return pluginsCore.PhaseInfoSystemRetryableFailure(code, msg, info)
	default:
		return pluginsCore.PhaseInfoSystemFailure(code, msg, info)
	}
}
