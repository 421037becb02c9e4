package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// The chaos test's shape (tests/workflows/chaos/load.py).
const (
	chaosEnvironments = 5
	chaosReplicas     = 4
)

// TestChaos: CHAOS_TASKS actor tasks (200 here; `make chaos` runs 2,000) over 5
// environments of 4 executors, with about 20% of the executor processes killed at random moments while
// they run tasks and FlytePropeller killed and restarted once. Nothing may be lost or run twice at once
// (judged from the executors' own start/end lines, not the pool's view), and every workflow succeeds.
// It prints one line: CHAOS tasks=… succeeded=… retried=… lost=… duplicated=… kills=… restarts=…
// workflows_failed=….
func TestChaos(t *testing.T) {
	ctx := context.Background()
	total := 200
	if s := os.Getenv("CHAOS_TASKS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "CHAOS_TASKS")
		total = n
	}
	perEnvironment := total / chaosEnvironments
	stack, reg := startWith(t, "chaos")

	var execs []*harness.Execution
	for i := range chaosEnvironments {
		exec, err := stack.Launch(ctx, reg, fmt.Sprintf("chaos.load.load_%d", i), map[string]*idlcore.Literal{"items": intList(perEnvironment)})
		require.NoError(t, err)
		execs = append(execs, exec)
	}
	failed := make([]error, len(execs))
	var wg sync.WaitGroup
	for i, exec := range execs {
		wg.Go(func() { failed[i] = exec.Wait(ctx, 30*time.Minute) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()

	faults := injectFaults(ctx, t, stack, done, chaosEnvironments*chaosReplicas/5)
	<-done

	workflowsFailed, succeeded := 0, 0
	for i, exec := range execs {
		if failed[i] != nil {
			workflowsFailed++
			t.Errorf("workflow %s: %v", exec.Name, failed[i])
			continue
		}
		for j, l := range exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals() {
			if intOf(l) == int64(j) {
				succeeded++
			}
		}
	}
	attempts, duplicated := chaosAttempts(stack, faults.killedAt)
	retried := 0
	for _, n := range attempts {
		if n > 1 {
			retried++
		}
	}
	line := fmt.Sprintf("CHAOS tasks=%d succeeded=%d retried=%d lost=%d duplicated=%d kills=%d restarts=%d workflows_failed=%d",
		perEnvironment*chaosEnvironments, succeeded, retried, perEnvironment*chaosEnvironments-succeeded, duplicated,
		len(faults.killedAt), faults.restarts, workflowsFailed)
	t.Log(line)
	fmt.Println(line)
	assert.Equal(t, perEnvironment*chaosEnvironments, succeeded, "lost tasks")
	assert.Zero(t, duplicated, "attempts that ran twice at once")
	assert.Zero(t, workflowsFailed)
	assert.Equal(t, 1, faults.restarts)
	assert.NotEmpty(t, faults.killedAt, "the test killed no executor: it proves nothing")
	assert.Len(t, attempts, perEnvironment*chaosEnvironments, "every task ran as an actor task")
}

// chaosFaults is what injectFaults did.
type chaosFaults struct {
	// killedAt is when each killed executor pod (namespace/name) was killed.
	killedAt map[string]time.Time
	restarts int
}

// injectFaults kills executor processes while they run tasks, kills executors as they come until
// kills are done, and restarts propeller once, after the first kill, until done is closed.
func injectFaults(ctx context.Context, t *testing.T, stack *harness.Stack, done <-chan struct{}, kills int) chaosFaults {
	seed := time.Now().UnixNano()
	t.Logf("faults from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	faults := chaosFaults{killedAt: map[string]time.Time{}}
	for {
		select {
		case <-done:
			return faults
		case <-time.After(time.Duration(200+rng.IntN(800)) * time.Millisecond):
		}
		if len(faults.killedAt) < kills {
			if pod := busyExecutor(ctx, stack, rng, faults.killedAt); pod != "" && stack.Kubelet.Crash(pod) == nil {
				faults.killedAt[pod] = time.Now()
				t.Logf("killed executor pod %s", pod)
			}
		}
		if faults.restarts == 0 && len(faults.killedAt) > 0 {
			stack.StopPropeller(true)
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			require.NoError(t, stack.StartPropeller())
			faults.restarts++
			t.Log("restarted propeller")
		}
	}
}

// busyExecutor returns a random executor pod (namespace/name) that is running a task now and was not
// killed before, or "".
func busyExecutor(ctx context.Context, stack *harness.Stack, rng *rand.Rand, killed map[string]time.Time) string {
	pods, err := stack.ExecutorPods(ctx)
	if err != nil {
		return ""
	}
	var busy []string
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		if _, dead := killed[key]; dead {
			continue
		}
		for _, s := range harness.ActorTaskSpans(stack.Kubelet.Logs(key)) {
			if s.End.IsZero() {
				busy = append(busy, key)
				break
			}
		}
	}
	if len(busy) == 0 {
		return ""
	}
	return busy[rng.IntN(len(busy))]
}

// chaosAttempts reads every executor's own start and end lines: how many attempts each task had (by
// task: the attempt's name without its retry number), and how many attempts ran on two executors at
// once. A task whose pod was killed before it ended ended at the kill.
func chaosAttempts(stack *harness.Stack, killedAt map[string]time.Time) (attempts map[string]int, duplicated int) {
	type run struct {
		pod        string
		start, end time.Time
	}
	runs := map[string][]run{}
	for _, pod := range stack.Kubelet.StartedPods() {
		for _, s := range harness.ActorTaskSpans(stack.Kubelet.Logs(pod)) {
			end := s.End
			if end.IsZero() {
				end = killedAt[pod]
				if end.IsZero() {
					end = time.Now()
				}
			}
			runs[s.TaskID] = append(runs[s.TaskID], run{pod, s.Start, end})
		}
	}
	attempts = map[string]int{}
	for id, rs := range runs {
		attempts[id[:strings.LastIndex(id, "-")]]++
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				if rs[i].start.Before(rs[j].end) && rs[j].start.Before(rs[i].end) {
					duplicated++
				}
			}
		}
	}
	return attempts, duplicated
}
