package kubepods

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/go/contract"
)

// Container waiting reasons (set by the kubelet) that say a pod cannot start its containers.
var (
	// waitingProblems heal by themselves or once someone fixes what they name (a registry, a secret).
	waitingProblems = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "CreateContainerConfigError": true,
		"CreateContainerError": true, "CrashLoopBackOff": true, "RunContainerError": true}
	// permanentWaitingProblems never heal for this pod spec.
	permanentWaitingProblems = map[string]bool{"InvalidImageName": true}
)

// stateOf reads how an executor pod is doing: why it does not run its executor (yet), whether it
// ended, and whether what stops it can heal.
func stateOf(pod *corev1.Pod) actorpool.ExecutorPodState {
	state := actorpool.ExecutorPodState{Namespace: pod.Namespace, EnvironmentID: pod.Labels[LabelEnvironment], Pod: pod.Name,
		UID: string(pod.UID), Created: pod.CreationTimestamp.Time}
	switch {
	case pod.DeletionTimestamp != nil:
		state.Stopping, state.Problem = true, "the pod is being deleted"
	case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		state.Ended = true
		state.Problem, state.Reason, state.OOM, state.Permanent = endedProblem(pod)
		state.Deleted = disrupted(pod)
	default:
		state.Problem, state.Reason, state.Permanent = pendingProblem(pod)
	}
	return state
}

// disrupted reports whether a pod that ended was stopped from outside (evicted for node pressure,
// preempted, its node shut down or tainted), which Kubernetes records as the pod's Evicted reason or
// its DisruptionTarget condition: no failure of what it ran.
func disrupted(pod *corev1.Pod) bool {
	if pod.Status.Reason == "Evicted" {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// endedProblem says how a pod that ended did: the pod's reason (Evicted, ...), and its containers'
// terminations, the executor's own exit code first; and the problem's one-word reason.
func endedProblem(pod *corev1.Pod) (problem, reason string, oom, permanent bool) {
	var parts []string
	reason = "Error"
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	if pod.Status.Reason != "" || pod.Status.Message != "" {
		parts = append(parts, strings.TrimSpace(pod.Status.Reason+": "+pod.Status.Message))
	}
	for _, c := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		t := c.State.Terminated
		if t == nil || (t.ExitCode == 0 && !strings.Contains(t.Reason, flytek8s.OOMKilled)) {
			continue // an init container that did its job says nothing about why the pod ended
		}
		oom = oom || strings.Contains(t.Reason, flytek8s.OOMKilled)
		part := fmt.Sprintf("container %s exited with code %d (%s)", c.Name, t.ExitCode, t.Reason)
		switch t.ExitCode {
		case contract.ExitCodeRuntimeCannotStart:
			part = fmt.Sprintf("container %s: the executor's Python runtime could not start", c.Name)
			permanent, reason = true, "RuntimeCannotStart"
		case contract.ExitCodeRuntimeUnavailable:
			part = fmt.Sprintf("container %s: the executor's Python runtime was not available (not ready in time, or it could not be started again)", c.Name)
			reason = "RuntimeUnavailable"
		case contract.ExitCodeRefused:
			part = fmt.Sprintf("container %s: the actor pool refused the executor", c.Name)
			reason = "Refused"
		}
		if oom {
			reason = flytek8s.OOMKilled
		}
		if msg := strings.TrimSpace(t.Message); msg != "" {
			part += ": " + msg
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		parts = append(parts, "the pod "+strings.ToLower(string(pod.Status.Phase)))
	}
	return contract.TruncateMessage(strings.Join(parts, "; ")), reason, oom, permanent
}

// pendingProblem says why a pod that has not ended does not run its executor: not scheduled (with the
// scheduler's message), or a container (init containers first) that cannot start.
func pendingProblem(pod *corev1.Pod) (problem, reason string, permanent bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return fmt.Sprintf("%s: %s", c.Reason, c.Message), c.Reason, false
		}
	}
	for _, c := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		w := c.State.Waiting
		if w == nil {
			continue
		}
		switch {
		case permanentWaitingProblems[w.Reason]:
			return fmt.Sprintf("container %s: %s: %s", c.Name, w.Reason, w.Message), w.Reason, true
		case waitingProblems[w.Reason]:
			problem := fmt.Sprintf("container %s: %s: %s", c.Name, w.Reason, w.Message)
			if last := c.LastTerminationState.Terminated; last != nil && last.Message != "" {
				problem += "; it last exited: " + last.Message
			}
			return problem, w.Reason, false
		}
	}
	return "", "", false
}
