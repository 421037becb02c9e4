package kubepods

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/flyteactors/flyteactors/actorpool"
)

// WatchExecutorPods tells observe how each executor pod is doing whenever it changes, until ctx is
// done. Its informer sees executor pods only (by their role label), in Options.Namespace or everywhere:
// never a cache of every pod of the cluster. A pod that failed is recorded as a Warning event on its
// environment's anchor.
func (c *Cluster) WatchExecutorPods(ctx context.Context, observe func(actorpool.ExecutorPodState)) error {
	factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0,
		informers.WithNamespace(c.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = c.roleSelector(RoleExecutor) }))
	informer := factory.Core().V1().Pods().Informer()
	report := func(pod *corev1.Pod, gone bool) {
		state := stateOf(pod)
		if gone && !state.Ended {
			state.Ended, state.Deleted, state.Problem = true, true, "the pod was deleted"
		}
		if state.Problem != "" && !gone && pod.DeletionTimestamp == nil {
			c.recordProblem(pod, state) // a deletion is not a problem: the pool or an operator asked for it
		}
		observe(state)
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { report(obj.(*corev1.Pod), false) },
		UpdateFunc: func(_, obj any) { report(obj.(*corev1.Pod), false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				report(pod, true)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch executor pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return ctx.Err()
	}
	<-ctx.Done()
	return nil
}
