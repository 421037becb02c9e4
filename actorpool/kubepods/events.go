package kubepods

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/flyteactors/flyteactors/actorpool"
)

// Reasons of the Kubernetes events recorded on an environment's anchor.
const (
	// EventCreatedExecutorPod: an executor pod was created.
	EventCreatedExecutorPod = "CreatedExecutorPod"
	// EventExecutorPodProblem: an executor pod does not run its executor (it cannot start, or ended).
	EventExecutorPodProblem = "ExecutorPodProblem"
	// EventDeletedEnvironment: the environment was deleted after it was idle for its TTL.
	EventDeletedEnvironment = "DeletedEnvironment"
)

// newRecorder returns an event recorder that writes to the API server through client.
func newRecorder(client typedcorev1.EventsGetter) (record.EventRecorder, record.EventBroadcaster) {
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "flyte-actors"}), broadcaster
}

// anchorRef refers to the anchor of environment id in namespace, so that `kubectl describe secret`
// on it lists what happened to the environment.
func anchorRef(namespace, id string, uid types.UID) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: namespace, Name: anchorName(id), UID: uid}
}

// recordProblem records a pod's problem on its anchor and on the pod (the recorder folds repeats into
// one event).
func (c *Cluster) recordProblem(pod *corev1.Pod, state actorpool.ExecutorPodState) {
	var uid types.UID
	for _, o := range pod.OwnerReferences {
		if o.Kind == "Secret" && o.Name == anchorName(state.EnvironmentID) {
			uid = o.UID
		}
	}
	c.recorder.Eventf(anchorRef(pod.Namespace, state.EnvironmentID, uid), corev1.EventTypeWarning, EventExecutorPodProblem,
		"executor pod %s: %s", pod.Name, state.Problem)
	c.recorder.Eventf(podRef(pod.Namespace, pod.Name, string(pod.UID)), corev1.EventTypeWarning, EventExecutorPodProblem,
		"the executor cannot run: %s", state.Problem)
}

// RecordExecutorEvent records e on its executor pod.
func (c *Cluster) RecordExecutorEvent(e actorpool.ExecutorEvent) {
	kind := corev1.EventTypeNormal
	if e.Warning {
		kind = corev1.EventTypeWarning
	}
	c.recorder.Event(podRef(e.Namespace, e.Pod, e.UID), kind, e.Reason, e.Message)
}

// podRef refers to an executor pod, so that `kubectl describe pod` lists its events.
func podRef(namespace, name, uid string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: namespace, Name: name, UID: types.UID(uid)}
}

// Close stops recording events.
func (c *Cluster) Close() { c.broadcaster.Shutdown() }

func anchorName(id string) string { return "flyte-actor-" + id }
