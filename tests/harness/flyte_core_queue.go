package harness

import "fmt"

// FlyteCoreQueue returns propeller configuration with flyte-core's values for its workqueue: four
// workers, a batch queue flushed every 2 s, and at least 5 s before a workflow woken through the queue
// is looked at again. A maxStreakLength above 0 sets propeller.max-streak-length too (flyte-core leaves
// propeller's default of 8).
func FlyteCoreQueue(maxStreakLength int) string {
	streak := ""
	if maxStreakLength > 0 {
		streak = fmt.Sprintf("  max-streak-length: %d\n", maxStreakLength)
	}
	return `propeller:
  workers: 4
` + streak + `  queue:
    type: batch
    batching-interval: 2s
    batch-size: -1
    queue:
      type: maxof
      rate: 100
      capacity: 1000
      base-delay: 5s
      max-delay: 120s
    sub-queue:
      type: bucket
      rate: 10
      capacity: 100
`
}
