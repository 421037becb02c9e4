package executor

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// run is one task in a slot.
type run struct {
	// runtime runs the task; nil until the task got one.
	runtime *Runtime
	// cancelled says the pool cancelled the task; stopped, when set, why the executor stopped it (to
	// exit, or because the pool has given it up): it is reported lost.
	cancelled bool
	stopped   string
}

// start runs an assignment in a free runtime.
func (x *Executor) start(ctx context.Context, a *executorv1.Assignment) {
	id := a.GetTaskId()
	rn := &run{}
	x.mu.Lock()
	_, dup := x.running[id]
	_, done := x.held[id]
	draining := !x.draining.IsZero()
	reserved := !dup && !done && !draining
	if reserved {
		x.running[id] = rn
		x.wg.Add(1)
	}
	x.mu.Unlock()
	switch {
	case dup || done:
		return // the pool re-sent what this executor already has; never run an attempt twice
	case draining:
		x.finish(id, time.Now(), nil, systemFailure(contract.CodeExecutorDraining, true,
			fmt.Sprintf("executor %s is stopping and did not start the task", x.cfg.PodName)))
		return
	}
	var r *Runtime
	select {
	case r = <-x.free:
	default:
		defer x.wg.Done()
		x.finish(id, time.Now(), nil, systemFailure(contract.CodeNoFreeSlot, true,
			fmt.Sprintf("executor %s was given more tasks than its %d slots", x.cfg.PodName, x.cfg.Slots)))
		return
	}
	x.mu.Lock()
	rn.runtime = r
	cancelled := rn.cancelled
	x.mu.Unlock()
	if cancelled {
		r.Cancel(id) // cancelled before it had a runtime: the runtime refuses it
	}
	env := make(map[string]string, len(a.GetEnv()))
	for _, v := range a.GetEnv() {
		env[v.GetName()] = v.GetValue()
	}
	go func() {
		defer x.wg.Done()
		startedAt := time.Now()
		fmt.Fprintf(x.cfg.Stdout, "=== actor task %s: start at %s ===\n", id, startedAt.UTC().Format(time.RFC3339Nano))
		failure := r.Run(ctx, id, a.GetCommand(), env, func() {
			x.report(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Started{Started: &executorv1.TaskStarted{
				TaskId: id, StartedAt: timestamppb.New(startedAt)}}})
		})
		fmt.Fprintf(x.cfg.Stdout, "=== actor task %s: end at %s (ok=%t) ===\n", id, time.Now().UTC().Format(time.RFC3339Nano), failure == nil)
		x.mu.Lock()
		stopped := rn.stopped
		x.mu.Unlock()
		switch {
		case stopped != "":
			failure = systemFailure(contract.CodeExecutorLost, true, stopped)
		case failure != nil && failure.GetCode() == contract.CodeRuntimeStartFailed:
			// The task never reached a runtime, and this executor cannot run tasks any more: it stops, and
			// refuses the task unrun, so that the pool gives it to another executor at no retry's cost.
			reason := "its Python runtime could not be started again: " + failure.GetMessage()
			x.stopTakingWork(reason)
			failure = systemFailure(contract.CodeExecutorDraining, true,
				fmt.Sprintf("executor %s is stopping (%s) and did not start the task", x.cfg.PodName, reason))
		}
		x.finish(id, startedAt, r, failure)
	}()
}

// finish moves a task from its slot (if it had one) to the held results (failure nil: the command
// completed), frees its runtime, and reports the result.
func (x *Executor) finish(id string, startedAt time.Time, r *Runtime, failure *executorv1.Failure) {
	f := &executorv1.TaskFinished{TaskId: id, Failure: failure, StartedAt: timestamppb.New(startedAt), FinishedAt: timestamppb.Now(),
		RuntimeRestarts: x.runtimeRestarts.Load()}
	x.mu.Lock()
	delete(x.running, id)
	x.held[id] = f
	x.mu.Unlock()
	if r != nil {
		x.free <- r
	}
	x.report(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Finished{Finished: f}})
}

// cancel stops a task this executor has, and nothing else.
func (x *Executor) cancel(id string) {
	var r *Runtime
	x.mu.Lock()
	if rn := x.running[id]; rn != nil {
		rn.cancelled = true
		r = rn.runtime
	}
	x.mu.Unlock()
	if r != nil {
		r.Cancel(id)
	}
}
