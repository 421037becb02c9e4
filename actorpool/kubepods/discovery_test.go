package kubepods

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flyteactors/flyteactors/actorpool"
)

// TestDiscoverFindsAnchorsAndPodsWithoutAnchor: what a restarted pool must look after, including the
// pods an interrupted deletion left without their anchor.
func TestDiscoverFindsAnchorsAndPodsWithoutAnchor(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	ctx := context.Background()
	s := spec(2)
	secret, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	other := spec(1)
	other.Key.Name, other.TTL = "other", 5*time.Minute
	_, err = cluster.EnsureEnvironment(ctx, other, other.Replicas)
	require.NoError(t, err)
	// An interrupted deletion: the other environment's anchor is gone, its pod is not.
	require.NoError(t, client.CoreV1().Secrets("ns").Delete(ctx, "flyte-actor-"+other.Key.ID(), metav1.DeleteOptions{}))

	found, err := cluster.DiscoverEnvironments(ctx)
	require.NoError(t, err)
	byID := map[string]actorpool.DiscoveredEnvironment{}
	for _, d := range found {
		byID[d.ID] = d
	}
	require.Len(t, byID, 2)
	d := byID[s.Key.ID()]
	assert.Equal(t, s.Key, d.Key)
	assert.Equal(t, s.Slots, d.Slots)
	assert.Equal(t, secret, d.Secret)
	assert.Equal(t, time.Minute, d.TTL)
	assert.Len(t, d.Pods, 2)
	orphan := byID[other.Key.ID()]
	assert.Empty(t, orphan.Secret, "no anchor, no secret")
	assert.Equal(t, 5*time.Minute, orphan.TTL, "the TTL is on the pods too")
	assert.Len(t, orphan.Pods, 1)
}

// TestDiscoveryAwaitsDrainingExecutorPods: a pod being deleted still drains its running tasks, so a
// restarted pool must wait for its executor like a live one's; only pods that ended are left out.
func TestDiscoveryAwaitsDrainingExecutorPods(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	ctx := context.Background()
	s := spec(3)
	_, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	list := pods(t, client)
	require.Len(t, list, 3)
	draining, ended := list[0], list[1]
	now := metav1.Now()
	draining.DeletionTimestamp = &now
	ended.Status.Phase = corev1.PodFailed
	for _, p := range []corev1.Pod{draining, ended} {
		_, err := client.CoreV1().Pods("ns").Update(ctx, &p, metav1.UpdateOptions{})
		require.NoError(t, err)
	}

	found, err := cluster.DiscoverEnvironments(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.ElementsMatch(t, []string{draining.Name, list[2].Name}, found[0].Pods)
}

// TestDiscoveryIgnoresObjectsPosingAsAnotherNamespacesEnvironment: a pod or Secret that copies another
// namespace's environment label and key annotation into its own namespace, or whose annotation does not
// hash to its label, is not an environment's object.
func TestDiscoveryIgnoresObjectsPosingAsAnotherNamespacesEnvironment(t *testing.T) {
	client := fake.NewClientset()
	cluster := New(client, Options{PoolAddress: "pool:8089"})
	ctx := context.Background()
	s := spec(1)
	_, err := cluster.EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	victim := pods(t, client)[0]
	forged := victim.DeepCopy()
	forged.Namespace, forged.Name, forged.ResourceVersion = "attacker", "forged", ""
	_, err = client.CoreV1().Pods("attacker").Create(ctx, forged, metav1.CreateOptions{})
	require.NoError(t, err)
	mislabelled := victim.DeepCopy()
	mislabelled.Name, mislabelled.ResourceVersion = "mislabelled", ""
	mislabelled.Labels[LabelEnvironment] = "0123456789abcdef0123"
	_, err = client.CoreV1().Pods("ns").Create(ctx, mislabelled, metav1.CreateOptions{})
	require.NoError(t, err)

	found, err := cluster.DiscoverEnvironments(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, s.Key, found[0].Key)
	assert.Equal(t, []string{victim.Name}, found[0].Pods)
}

// TestShardsSeeOnlyTheirOwnObjects: the pools of two shards of FlytePropeller, and an unsharded one, in
// one cluster: each labels what it makes with its shard and discovers only its own environments.
func TestShardsSeeOnlyTheirOwnObjects(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	clusters := map[string]*Cluster{}
	for _, shard := range []string{"", "shard-a", "shard-b"} {
		clusters[shard] = New(client, Options{PoolAddress: "pool:8089", Shard: shard})
		s := spec(1)
		s.Key.Shard = shard
		_, err := clusters[shard].EnsureEnvironment(ctx, s, s.Replicas)
		require.NoError(t, err)
	}
	for shard, cluster := range clusters {
		found, err := cluster.DiscoverEnvironments(ctx)
		require.NoError(t, err)
		require.Len(t, found, 1, "shard %q", shard)
		assert.Equal(t, shard, found[0].Key.Shard)
		require.Len(t, found[0].Pods, 1)
		pod, err := client.CoreV1().Pods("ns").Get(ctx, found[0].Pods[0], metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, shard, pod.Labels[LabelShard])
	}
}
