package kubepods

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/go/contract"
)

func spec(replicas int) actorpool.EnvironmentSpec {
	return actorpool.EnvironmentSpec{
		Key:      actorpool.EnvironmentKey{Namespace: "ns", Project: "p", Domain: "d", Name: "My_Actor.With a very long name that goes on and on", Version: "v", PodHash: "h"},
		Replicas: replicas, Slots: 2, TTL: time.Minute,
		Pod: &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Image: "side:1"},
				{Name: "actor", Image: "img:1", Command: []string{"actor-executor"}},
			}},
		},
		PrimaryContainer: "actor",
	}
}

func pods(t *testing.T, c *fake.Clientset) []corev1.Pod {
	t.Helper()
	list, err := c.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

func TestEnsureCreatesAnchorAndOwnedExecutorPods(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	s := spec(2)

	secret, err := cluster.EnsureEnvironment(context.Background(), s, s.Replicas)
	require.NoError(t, err)
	assert.Len(t, secret, 64)

	anchors, err := client.CoreV1().Secrets("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, anchors.Items, 1)
	anchor := anchors.Items[0]
	assert.Equal(t, s.Key.ID(), anchor.Labels[LabelEnvironment])
	assert.Equal(t, RoleAnchor, anchor.Labels[LabelRole])

	created := pods(t, client)
	require.Len(t, created, 2)
	for _, pod := range created {
		assert.Empty(t, validation.IsDNS1123Label(pod.Name), "pod name %q", pod.Name)
		assert.True(t, strings.HasPrefix(pod.Name, "actor-my-actor-with-a-very-long"), pod.Name)
		assert.Equal(t, "a", pod.Labels["team"], "the template's labels stay")
		assert.Equal(t, s.Key.ID(), pod.Labels[LabelEnvironment])
		assert.Equal(t, RoleExecutor, pod.Labels[LabelRole])
		require.Len(t, pod.OwnerReferences, 1)
		assert.Equal(t, anchor.Name, pod.OwnerReferences[0].Name)
		assert.Equal(t, "Secret", pod.OwnerReferences[0].Kind)

		env := map[string]corev1.EnvVar{}
		for _, v := range pod.Spec.Containers[1].Env {
			env[v.Name] = v
		}
		assert.Equal(t, "pool:8089", env[contract.EnvPoolAddress].Value)
		assert.Equal(t, s.Key.ID(), env[contract.EnvEnvironmentID].Value)
		assert.Equal(t, "2", env[contract.EnvSlots].Value)
		assert.Equal(t, "metadata.name", env[contract.EnvPodName].ValueFrom.FieldRef.FieldPath)
		tokenRef := env[contract.EnvToken].ValueFrom.SecretKeyRef
		assert.Equal(t, anchor.Name, tokenRef.Name, "the token is not in the pod spec")
		assert.Equal(t, "pod."+pod.Name, tokenRef.Key, "each pod reads its own token")
		assert.Equal(t, actorpool.PodToken(secret, pod.Name), string(anchorNow(t, client, anchor.Name).Data[tokenRef.Key]))
		var key actorpool.EnvironmentKey
		require.NoError(t, json.Unmarshal([]byte(pod.Annotations[AnnotationEnvironment]), &key))
		assert.Equal(t, s.Key, key, "the pod says which environment it belongs to")
		assert.Empty(t, pod.Spec.Containers[0].Env, "only the primary container is the executor")
	}
	assert.Empty(t, s.Pod.Spec.Containers[1].Env, "the spec's pod is not modified")
}

func TestEnsureIsLevelTriggered(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	s := spec(2)
	ctx := context.Background()

	first, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	second, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	assert.Equal(t, first, second, "the secret is read back from the anchor")
	assert.Len(t, pods(t, client), 2, "ensuring again creates nothing")

	// An executor that ended is replaced, and the ended pod removed.
	ended := pods(t, client)[0]
	ended.Status.Phase = corev1.PodFailed
	_, err = client.CoreV1().Pods("ns").UpdateStatus(ctx, &ended, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	now := pods(t, client)
	require.Len(t, now, 2)
	for _, p := range now {
		assert.NotEqual(t, ended.Name, p.Name)
	}
	anchor := anchorNow(t, client, "flyte-actor-"+s.Key.ID())
	assert.NotContains(t, anchor.Data, "pod."+ended.Name, "the token of a pod that is gone is dropped")
	assert.Len(t, anchor.Data, 3, "the secret and the two live pods' tokens")
}

func anchorNow(t *testing.T, client *fake.Clientset, name string) *corev1.Secret {
	t.Helper()
	a, err := client.CoreV1().Secrets("ns").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return a
}

func TestDeleteRemovesPodsAndAnchor(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	s := spec(1)
	ctx := context.Background()
	_, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)

	require.NoError(t, cluster.DeleteEnvironment(ctx, "ns", s.Key.ID()))
	assert.Empty(t, pods(t, client))
	secrets, err := client.CoreV1().Secrets("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items)
	require.NoError(t, cluster.DeleteEnvironment(ctx, "ns", s.Key.ID()), "deleting again is fine")
}

func TestEnsureFailsClearlyWithoutThePrimaryContainer(t *testing.T) {
	cluster := New(fake.NewClientset(), Options{})
	s := spec(1)
	s.PrimaryContainer = "missing"
	_, err := cluster.EnsureEnvironment(context.Background(), s, s.Replicas)
	assert.ErrorContains(t, err, `executor pod has no container "missing"`)
}

// TestStateOfSaysWhyAPodDoesNotRun: each cause of "cannot start", whether it can heal, and
// how a pod ended.
func TestStateOfSaysWhyAPodDoesNotRun(t *testing.T) {
	waiting := func(reason, msg string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "actor",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}
	}
	terminated := func(code int32, reason, msg string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "actor",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}}}
	}
	for name, tc := range map[string]struct {
		status          corev1.PodStatus
		problem, reason string
		ended, perm, oo bool
		deleted         bool
	}{
		"starting":       {status: waiting("ContainerCreating", ""), problem: ""},
		"image pull":     {status: waiting("ImagePullBackOff", `Back-off pulling image "nope:1"`), problem: `ImagePullBackOff: Back-off pulling image "nope:1"`, reason: "ImagePullBackOff"},
		"invalid image":  {status: waiting("InvalidImageName", `couldn't parse image name "Bad::1"`), problem: "InvalidImageName", reason: "InvalidImageName", perm: true},
		"missing secret": {status: waiting("CreateContainerConfigError", `secret "db" not found`), problem: `CreateContainerConfigError: secret "db" not found`, reason: "CreateContainerConfigError"},
		"crash loop":     {status: waiting("CrashLoopBackOff", "back-off 5m0s"), problem: "CrashLoopBackOff", reason: "CrashLoopBackOff"},
		"unschedulable":  {status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}}, problem: "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", reason: "Unschedulable"},
		"runtime cannot start": {status: terminated(contract.ExitCodeRuntimeCannotStart, "Error", "ModuleNotFoundError: No module named 'flytekit'"),
			problem: "the executor's Python runtime could not start: ModuleNotFoundError: No module named 'flytekit'", reason: "RuntimeCannotStart", ended: true, perm: true},
		"refused": {status: terminated(contract.ExitCodeRefused, "Error", ""), problem: "the actor pool refused the executor", reason: "Refused", ended: true},
		"oom":     {status: terminated(137, "OOMKilled", ""), problem: "exited with code 137 (OOMKilled)", reason: "OOMKilled", ended: true, oo: true},
		"runtime unavailable": {status: terminated(contract.ExitCodeRuntimeUnavailable, "Error", ""),
			problem: "the executor's Python runtime was not available", reason: "RuntimeUnavailable", ended: true},
		"evicted": {status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}, problem: "Evicted: The node was low on resource: memory.", reason: "Evicted", ended: true, deleted: true},
		"disrupted": {status: corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget,
			Status: corev1.ConditionTrue, Reason: "TerminationByKubelet"}}}, problem: "the pod failed", reason: "Error", ended: true, deleted: true},
		"running": {status: corev1.PodStatus{Phase: corev1.PodRunning}, problem: ""},
	} {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{LabelEnvironment: "e"}}, Status: tc.status}
			s := stateOf(pod)
			assert.Equal(t, "e", s.EnvironmentID)
			if tc.problem == "" {
				assert.Empty(t, s.Problem)
			} else {
				assert.Contains(t, s.Problem, tc.problem)
			}
			assert.Equal(t, tc.reason, s.Reason, "the problem's one-word reason")
			assert.Equal(t, tc.ended, s.Ended)
			assert.Equal(t, tc.perm, s.Permanent)
			assert.Equal(t, tc.oo, s.OOM)
			assert.Equal(t, tc.deleted, s.Deleted, "stopped from outside")
		})
	}
}

// TestWatchReportsExecutorPodsOnly: the informer sees executor pods and says how they do.
func TestWatchReportsExecutorPodsOnly(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	t.Cleanup(cluster.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// A pod of someone else's, there before the watch starts (the fake clientset's watch does not
	// filter by label; its list does, like the API server).
	_, err := client.CoreV1().Pods("ns").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "someone-else", Namespace: "ns"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	states := make(chan actorpool.ExecutorPodState, 10)
	// The fake clientset drops what happens between an informer's list and its watch: start acting
	// once the watch is there.
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	go func() { _ = cluster.WatchExecutorPods(ctx, func(s actorpool.ExecutorPodState) { states <- s }) }()
	<-watching
	time.Sleep(100 * time.Millisecond)
	next := func(want func(actorpool.ExecutorPodState) bool) actorpool.ExecutorPodState {
		t.Helper()
		for {
			select {
			case s := <-states:
				if want(s) {
					return s
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the watch said nothing more")
			}
		}
	}

	_, err = cluster.EnsureEnvironment(ctx, spec(1), spec(1).Replicas)
	require.NoError(t, err)
	seen := next(func(actorpool.ExecutorPodState) bool { return true })
	assert.NotEqual(t, "someone-else", seen.Pod, "only executor pods are watched")
	pod, err := client.CoreV1().Pods("ns").Get(ctx, seen.Pod, metav1.GetOptions{})
	require.NoError(t, err)

	pod.Status.Phase = corev1.PodPending
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "actor", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}}}
	_, err = client.CoreV1().Pods("ns").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	problem := next(func(s actorpool.ExecutorPodState) bool { return s.Problem != "" })
	assert.Contains(t, problem.Problem, "ImagePullBackOff: no such image")

	require.NoError(t, client.CoreV1().Pods("ns").Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	ended := next(func(s actorpool.ExecutorPodState) bool { return s.Ended })
	assert.Equal(t, pod.Name, ended.Pod)
}
