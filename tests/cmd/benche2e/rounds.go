package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
)

// printRounds runs a warm chain while watching its FlyteWorkflow and prints what each status write of
// propeller changed: which nodes moved to which phase. It shows how many writes a task costs and why.
func (b *bencher) printRounds(ctx context.Context) error {
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	if _, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20", x, 10*time.Minute); err != nil {
		return err
	}
	workflows := b.stack.Flyte.FlyteworkflowV1alpha1().FlyteWorkflows(b.stack.Namespace)
	w, err := workflows.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	defer w.Stop()
	exec, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20", x, 10*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("\nthe status writes of a warm chain of %d (%s), as a watch of its FlyteWorkflow sees them:\n", chainLength, exec.Name)
	phases := map[string]v1alpha1.NodePhase{}
	var wfPhase v1alpha1.WorkflowPhase
	writes := 0
	var last time.Time
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.ResultChan():
			wf, ok := ev.Object.(*v1alpha1.FlyteWorkflow)
			if !ok || wf.Name != exec.Name || ev.Type == watch.Deleted {
				continue
			}
			writes++
			var changes []string
			if wf.Status.Phase != wfPhase {
				changes = append(changes, "workflow "+wf.Status.Phase.String())
				wfPhase = wf.Status.Phase
			}
			ids := make([]string, 0, len(wf.Status.NodeStatus))
			for id := range wf.Status.NodeStatus {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				if p := wf.Status.NodeStatus[id].GetPhase(); p != phases[id] {
					changes = append(changes, fmt.Sprintf("%s %s", id, p))
					phases[id] = p
				}
			}
			now := time.Now()
			since := ""
			if !last.IsZero() {
				since = fmt.Sprintf("+%s", round(now.Sub(last)))
			}
			last = now
			fmt.Printf("  write %2d %9s  %s\n", writes, since, strings.Join(changes, ", "))
		case <-timeout:
			return nil
		}
	}
}
