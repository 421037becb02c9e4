package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// outcome is what a check found: a text that ends "as expected", or says what was wrong.
type outcome struct {
	text     string
	expected bool
}

func (o outcome) String() string {
	if o.expected {
		return o.text + ", as expected"
	}
	return "WRONG: " + o.text
}

// check judges an execution that ended (runErr is Run's error: the execution did not succeed).
type check func(ctx context.Context, exec *harness.Execution, runErr error) outcome

// outputIs expects the execution to succeed with output key equal to want (an int64 or a string).
func outputIs(key string, want any) check {
	return func(_ context.Context, exec *harness.Execution, runErr error) outcome {
		if runErr != nil {
			return failed(exec, runErr)
		}
		return compare(key, exec.Outputs.GetLiterals()[key], want)
	}
}

// outputsAre expects the execution to succeed with these string outputs.
func outputsAre(want map[string]string) check {
	return func(_ context.Context, exec *harness.Execution, runErr error) outcome {
		if runErr != nil {
			return failed(exec, runErr)
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			o := compare(k, exec.Outputs.GetLiterals()[k], want[k])
			if !o.expected {
				return o
			}
			parts = append(parts, o.text)
		}
		return outcome{text: strings.Join(parts, ", "), expected: true}
	}
}

// nodeOutputIs expects the execution to succeed and node nodeID (task taskName) to have output key
// equal to want: for a workflow without outputs.
func nodeOutputIs(nodeID, key, taskName string, want any) check {
	return func(ctx context.Context, exec *harness.Execution, runErr error) outcome {
		if runErr != nil {
			return failed(exec, runErr)
		}
		outputs, err := exec.NodeOutputs(ctx, nodeID)
		if err != nil {
			return outcome{text: err.Error()}
		}
		return compare(taskName, outputs.GetLiterals()[key], want)
	}
}

// failsIn expects the execution to fail in node nodeID with an error message containing message;
// description says what that means.
func failsIn(nodeID, message, description string) check {
	return func(_ context.Context, exec *harness.Execution, runErr error) outcome {
		if runErr == nil {
			return outcome{text: fmt.Sprintf("succeeded, expected %s", description)}
		}
		node := exec.Workflow.Status.NodeStatus[nodeID]
		if node == nil || node.GetExecutionError() == nil {
			return failed(exec, runErr)
		}
		if !strings.Contains(node.GetExecutionError().GetMessage(), message) {
			return outcome{text: fmt.Sprintf("node %s failed otherwise: %s", nodeID, gist(node.GetExecutionError().GetMessage()))}
		}
		return outcome{text: description, expected: true}
	}
}

func compare(name string, got *idlcore.Literal, want any) outcome {
	switch w := want.(type) {
	case int64:
		v := got.GetScalar().GetPrimitive().GetInteger()
		return outcome{text: fmt.Sprintf("%s = %d", name, v), expected: got != nil && v == w}
	case string:
		v := got.GetScalar().GetPrimitive().GetStringValue()
		return outcome{text: fmt.Sprintf("%s = %q", name, v), expected: got != nil && v == w}
	}
	return outcome{text: fmt.Sprintf("cannot compare %s with %T", name, want)}
}

// failed describes an execution that failed where it should have succeeded: which node failed, and
// the gist of its error.
func failed(exec *harness.Execution, err error) outcome {
	if exec.Workflow != nil {
		ids := make([]string, 0, len(exec.Workflow.Status.NodeStatus))
		for id := range exec.Workflow.Status.NodeStatus {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if e := exec.Workflow.Status.NodeStatus[id].GetExecutionError(); e != nil {
				return outcome{text: fmt.Sprintf("node %s failed (%s): %s", id, e.GetKind(), gist(e.GetMessage()))}
			}
		}
	}
	return outcome{text: "failed: " + firstLine(err.Error())}
}

// gist is the first line of the "Message:" part of a flytekit error, or else its first line.
func gist(message string) string {
	if _, after, ok := strings.Cut(message, "Message:"); ok {
		message = after
	}
	return firstLine(message)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
