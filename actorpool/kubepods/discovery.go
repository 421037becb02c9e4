package kubepods

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteactors/flyteactors/actorpool"
)

// DiscoverEnvironments lists the environments whose anchors or executor pods exist.
func (c *Cluster) DiscoverEnvironments(ctx context.Context) ([]actorpool.DiscoveredEnvironment, error) {
	anchors, err := c.client.CoreV1().Secrets(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelRole + "=" + RoleAnchor})
	if err != nil {
		return nil, fmt.Errorf("list environment anchors: %w", err)
	}
	pods, err := c.client.CoreV1().Pods(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelRole + "=" + RoleExecutor})
	if err != nil {
		return nil, fmt.Errorf("list executor pods: %w", err)
	}
	found := map[string]*actorpool.DiscoveredEnvironment{}
	get := func(meta metav1.ObjectMeta) *actorpool.DiscoveredEnvironment {
		id := meta.Labels[LabelEnvironment]
		d := found[meta.Namespace+"/"+id]
		if d == nil {
			d = &actorpool.DiscoveredEnvironment{Namespace: meta.Namespace, ID: id, Name: describedName(meta)}
			found[meta.Namespace+"/"+id] = d
		}
		// A TTL the objects do not give (made before they carried one) means: delete when unused.
		if ttl, err := time.ParseDuration(meta.Annotations[AnnotationTTL]); err == nil && ttl > d.TTL {
			d.TTL = ttl
		}
		return d
	}
	for _, a := range anchors.Items {
		if a.DeletionTimestamp == nil {
			get(a.ObjectMeta).Secret = string(a.Data[secretKey])
		}
	}
	for _, pod := range pods.Items {
		d := get(pod.ObjectMeta)
		if pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			d.Pods = append(d.Pods, pod.Name)
		}
	}
	out := make([]actorpool.DiscoveredEnvironment, 0, len(found))
	for _, d := range found {
		out = append(out, *d)
	}
	return out, nil
}

// describedName returns the environment name an object's annotations give, or its ID label.
func describedName(meta metav1.ObjectMeta) string {
	var key actorpool.EnvironmentKey
	if err := json.Unmarshal([]byte(meta.Annotations[AnnotationEnvironment]), &key); err == nil && key.Name != "" {
		return key.Name
	}
	return meta.Labels[LabelEnvironment]
}
