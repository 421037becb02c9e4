package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/flyteactors/flyteactors/plugin"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// printStatus prints a summary of the actor pool's status page (/actors/status on propeller's metrics
// port), what an operator reads behind `kubectl port-forward`.
func printStatus(stack *harness.Stack) error {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", stack.PropellerProfPort(), plugin.StatusPath)
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var status plugin.Status
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	fmt.Printf("\nthe actor pool's status page (%s): %d environments, %d executors, %d tasks queued, %d running\n",
		plugin.StatusPath, status.Totals.Environments, status.Totals.Executors, status.Totals.Queued, status.Totals.Running)
	for _, e := range status.Environments {
		fmt.Printf("  %-22s %-8s %d/%d executors (min %d), %d queued, %d running, TTL %s\n", e.Name, e.State,
			len(e.Executors), e.Replicas, e.MinReplicas, e.Queued, e.Running, e.TTL)
	}
	return nil
}

// demoMetrics are the metrics the demo prints (under propeller's scope, flyte:propeller:all:node:actor:).
var demoMetrics = []string{"pool:attempts_ended", "pool:assignments", "pool:queue_wait_seconds_count",
	"pool:queue_wait_seconds_sum", "pool:executor_start_seconds_count", "pool:executor_start_seconds_sum",
	"pool:task_run_seconds_sum", "pool:environment_events", "prewarm:environments"}

// printMetrics prints an excerpt of the actor pool's metrics as propeller serves them (/metrics).
func printMetrics(stack *harness.Stack) error {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", stack.PropellerProfPort()))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	fmt.Println("\nan excerpt of the actor pool's metrics (propeller's /metrics; docs/architecture.md lists them all):")
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	shown := 0
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") || shown >= 24 {
			continue
		}
		for _, m := range demoMetrics {
			if strings.Contains(line, ":actor:"+m+"{") || strings.Contains(line, ":actor:"+m+" ") {
				fmt.Println("  " + line)
				shown++
			}
		}
	}
	return scanner.Err()
}
