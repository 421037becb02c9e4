package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// startCluster starts a stack with opts and registers the actors workflows on it.
func startCluster(t *testing.T, opts harness.Options) (*harness.Stack, *harness.Registration) {
	t.Helper()
	stack := harness.Start(t, workflowSrc(t), opts)
	t.Logf("stack started: %v", stack.Timings)
	reg, err := stack.Serialize(context.Background(), workflowSrc(t), "localhost/flytekit:local", "actors")
	require.NoError(t, err)
	return stack, reg
}

// leader waits until one of the stack's propellers leads, and returns it and the others.
func leader(t *testing.T, stack *harness.Stack) (*harness.Propeller, []*harness.Propeller) {
	t.Helper()
	var lead *harness.Propeller
	var others []*harness.Propeller
	require.True(t, eventually(time.Minute, func() bool {
		lead, others = nil, nil
		for _, p := range stack.Propellers() {
			if p.Leads() && lead == nil {
				lead = p
			} else {
				others = append(others, p)
			}
		}
		return lead != nil
	}), "no propeller took the lead")
	return lead, others
}

// publishedEndpoint returns the address the Service's EndpointSlices send executors to, or "".
func publishedEndpoint(ctx context.Context, t *testing.T, stack *harness.Stack, service string) string {
	t.Helper()
	slices, err := stack.Kube.DiscoveryV1().EndpointSlices(stack.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	require.NoError(t, err)
	for _, s := range slices.Items {
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == "grpc-executor" && len(s.Endpoints) > 0 && len(s.Endpoints[0].Addresses) > 0 {
				return fmt.Sprintf("%s:%d", s.Endpoints[0].Addresses[0], *p.Port)
			}
		}
	}
	return ""
}

// TestClusterLeaderChangeExecutorsFollow: FlytePropeller runs as flyte-core runs it, two replicas with
// leader election; only the leader runs the actor pool, which publishes itself as the one endpoint of
// the Service executors dial. The leader is killed while an actor task runs: the standby takes the
// lease, its pool publishes itself and finds the environment, the executor reconnects to it through the
// Service (its dial backoff stays short) and reports the task it runs, and the workflow goes on: every
// task ran once, on the one executor, first attempt each.
func TestClusterLeaderChangeExecutorsFollow(t *testing.T) {
	ctx := context.Background()
	stack, reg := startCluster(t, harness.Options{Replicas: 2})
	lead, standbys := leader(t, stack)
	require.Len(t, standbys, 1)
	standby := standbys[0]
	require.Eventually(t, func() bool { return publishedEndpoint(ctx, t, stack, harness.ServiceName) == lead.PoolAddress() },
		30*time.Second, 50*time.Millisecond, "the leader's pool publishes itself on the Service")

	exec, err := stack.Launch(ctx, reg, "actors.relay.relay", map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(1.5)})
	require.NoError(t, err)
	first := waitForSpan(ctx, t, stack, exec.Name+"-", false, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // mid-task
	lead.Stop(true)
	killedAt := time.Now()

	require.NoError(t, exec.Wait(ctx, 3*time.Minute), "nothing is lost")
	assert.Equal(t, int64(4), intOf(exec.Outputs.GetLiterals()["o0"]))
	assert.True(t, standby.Leads(), "the standby took the lead")
	assert.Equal(t, standby.PoolAddress(), publishedEndpoint(ctx, t, stack, harness.ServiceName), "executors are sent to the new leader")
	starts := map[string]int{}
	for _, s := range allSpans(ctx, t, stack) {
		if strings.HasPrefix(s.TaskID, exec.Name+"-") {
			starts[s.TaskID]++
			assert.Equal(t, first.Pod, s.Pod, "every task on the one executor")
			assert.True(t, strings.HasSuffix(s.TaskID, "-0"), "%s: first attempts only", s.TaskID)
		}
	}
	assert.Len(t, starts, 4, "four tasks: %v", starts)
	for id, n := range starts {
		assert.Equal(t, 1, n, "%s ran once", id)
	}
	assert.Equal(t, 1, podsCreated(ctx, t, stack, "relay-actor"), "the new leader adopted the executor pod")
	t.Logf("the workflow ended %s after the leader was killed", time.Since(killedAt).Round(time.Millisecond))
}

// TestClusterShardedPropellers: two FlytePropeller shards (disjoint shard keys, as flyte-core's
// propeller manager runs them), with workflows of both using the same actor environment. Each shard's
// pool runs its own executor pods, labelled with its shard, which run only its own workflows' tasks and
// reach it through the shard's own Service; a restart of one shard finds only its own pods and leaves
// the other's alone.
func TestClusterShardedPropellers(t *testing.T) {
	ctx := context.Background()
	var low, high []string
	for k := range 32 {
		if k < 16 {
			low = append(low, fmt.Sprint(k))
		} else {
			high = append(high, fmt.Sprint(k))
		}
	}
	shards := [][]string{low, high}
	stack, reg := startCluster(t, harness.Options{Shards: shards})
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}
	run := func(shard int) *harness.Execution {
		exec, err := stack.LaunchNamed(ctx, reg, "actors.chain.chain", harness.ExecutionNameIn(shards[shard]), x)
		require.NoError(t, err)
		return exec
	}
	var execs []*harness.Execution
	shardOf := map[string]int{}
	for _, shard := range []int{0, 1, 0, 1} {
		e := run(shard)
		execs = append(execs, e)
		shardOf[e.Name] = shard
	}
	for _, e := range execs {
		require.NoError(t, e.Wait(ctx, 3*time.Minute))
		value, _ := chainOutputs(e)
		assert.Equal(t, int64(44), value)
	}

	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	podShard := map[string]string{}
	envOfShard := map[string]string{}
	for _, p := range pods {
		shard := p.Labels[kubepods.LabelShard]
		require.NotEmpty(t, shard, "pod %s carries its shard", p.Name)
		podShard[p.Name] = shard
		if env, seen := envOfShard[shard]; seen {
			assert.Equal(t, env, p.Labels[kubepods.LabelEnvironment])
		}
		envOfShard[shard] = p.Labels[kubepods.LabelEnvironment]
	}
	require.Len(t, envOfShard, 2, "one environment per shard, each with its own pods: %v", podShard)
	shardName := map[int]string{}
	for pod, spans := range executorSpans(ctx, t, stack) {
		for _, s := range spans {
			execution, _, _ := strings.Cut(s.TaskID, "-")
			shard := shardOf[execution]
			if name, seen := shardName[shard]; seen {
				assert.Equal(t, name, podShard[pod], "task %s of shard %d ran on %s, a pod of another shard", s.TaskID, shard, pod)
			}
			shardName[shard] = podShard[pod]
		}
	}
	require.Len(t, shardName, 2)

	// Shard 0's propeller crashes and restarts: shard 1's pods are left alone; shard 0 runs on.
	before := map[string]bool{}
	for _, p := range pods {
		if podShard[p.Name] == shardName[1] {
			before[p.Name] = true
		}
	}
	require.NoError(t, stack.Propellers()[0].Restart(true))
	again := run(0)
	require.NoError(t, again.Wait(ctx, 3*time.Minute))
	after, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	for _, p := range after {
		if before[p.Name] {
			assert.Nil(t, p.DeletionTimestamp, "shard 1's pod %s is not touched by shard 0's restart", p.Name)
			delete(before, p.Name)
		}
	}
	assert.Empty(t, before, "shard 1's pods are all still there")
}

// TestClusterRestrictedNamespaceRunsActorTasks: in a namespace that enforces the restricted Pod
// Security Standard (the API server's Pod Security admission checks every pod), executor pods meet it,
// the injected executor's container included, and actor tasks run.
func TestClusterRestrictedNamespaceRunsActorTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startCluster(t, harness.Options{NamespaceLabels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}})
	_, err := stack.Kube.CoreV1().Pods(stack.Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "python:3.11"}}},
	}, metav1.CreateOptions{})
	require.ErrorContains(t, err, "violates PodSecurity", "Pod Security admission enforces the namespace's level")

	exec, err := stack.Run(ctx, reg, "actors.chain.chain", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}, 3*time.Minute)
	require.NoError(t, err)
	value, _ := chainOutputs(exec)
	assert.Equal(t, int64(44), value)
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, pods)
	pod := pods[0]
	assert.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.Spec.SecurityContext.SeccompProfile.Type)
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation, c.Name)
		assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop, c.Name)
	}
}
