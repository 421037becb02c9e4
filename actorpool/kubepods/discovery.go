package kubepods

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteactors/flyteactors/actorpool"
)

// DiscoverEnvironments lists the environments whose anchors or executor pods exist. An object counts
// only if its key annotation names its own namespace and hashes to its environment label: a pod or
// Secret in one namespace cannot pass for another namespace's environment.
func (c *Cluster) DiscoverEnvironments(ctx context.Context) ([]actorpool.DiscoveredEnvironment, error) {
	anchors, err := c.client.CoreV1().Secrets(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: c.roleSelector(RoleAnchor)})
	if err != nil {
		return nil, fmt.Errorf("list environment anchors: %w", err)
	}
	pods, err := c.client.CoreV1().Pods(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: c.roleSelector(RoleExecutor)})
	if err != nil {
		return nil, fmt.Errorf("list executor pods: %w", err)
	}
	found := map[string]*actorpool.DiscoveredEnvironment{}
	get := func(meta metav1.ObjectMeta) *actorpool.DiscoveredEnvironment {
		key, ok := describedKey(meta)
		if !ok {
			return nil
		}
		d := found[key.ID()]
		if d == nil {
			d = &actorpool.DiscoveredEnvironment{Key: key, ID: key.ID()}
			found[key.ID()] = d
		}
		// A TTL the objects do not give (made before they carried one) means: delete when unused.
		if ttl, err := time.ParseDuration(meta.Annotations[AnnotationTTL]); err == nil && ttl > d.TTL {
			d.TTL = ttl
		}
		if slots, err := strconv.Atoi(meta.Annotations[AnnotationSlots]); err == nil && slots > d.Slots {
			d.Slots = slots
		}
		return d
	}
	for _, a := range anchors.Items {
		if d := get(a.ObjectMeta); d != nil && a.DeletionTimestamp == nil {
			d.Secret = string(a.Data[secretKey])
		}
	}
	for _, pod := range pods.Items {
		// A pod being deleted still runs its tasks while it drains: it is awaited like a live one, or
		// an attempt it runs would be dispatched again before it says so.
		if d := get(pod.ObjectMeta); d != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			d.Pods = append(d.Pods, pod.Name)
		}
	}
	out := make([]actorpool.DiscoveredEnvironment, 0, len(found))
	for _, d := range found {
		out = append(out, *d)
	}
	return out, nil
}

// describedKey returns the environment key an object's annotation gives, if it is the key of the
// object's namespace and of its environment label.
func describedKey(meta metav1.ObjectMeta) (actorpool.EnvironmentKey, bool) {
	var key actorpool.EnvironmentKey
	if err := json.Unmarshal([]byte(meta.Annotations[AnnotationEnvironment]), &key); err != nil {
		return key, false
	}
	return key, key.Namespace == meta.Namespace && key.ID() == meta.Labels[LabelEnvironment]
}
