package actorpool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestScaleDecisions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ttl := 30 * time.Second
	longIdle := []idleExecutor{{pod: "a", since: now.Add(-time.Minute)}, {pod: "b", since: now.Add(-time.Second)}}
	justIdle := []idleExecutor{{pod: "a", since: now.Add(-time.Second)}}
	for _, c := range []struct {
		name string
		in   scaleInput
		want scaleDecision
	}{
		{"fixed size: work does not change it",
			scaleInput{min: 3, max: 3, slots: 1, replicas: 3, connected: 3, queued: 50},
			scaleDecision{replicas: 3, wanted: 3}},
		{"fixed size: idle executors stay",
			scaleInput{min: 2, max: 2, slots: 1, replicas: 2, connected: 2, idle: longIdle},
			scaleDecision{replicas: 2, wanted: 2}},
		{"starts at its fewest",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 0},
			scaleDecision{replicas: 1, wanted: 1}},
		{"queued work beyond free slots grows it",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 1, connected: 1, running: 1, queued: 2},
			scaleDecision{replicas: 3, wanted: 3}},
		{"never beyond max",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 1, connected: 1, running: 1, queued: 100},
			scaleDecision{replicas: 4, wanted: 4}},
		{"slots: an executor takes that many tasks",
			scaleInput{min: 1, max: 10, slots: 4, replicas: 1, connected: 1, running: 4, queued: 5},
			scaleDecision{replicas: 3, wanted: 3}},
		{"backlog: queued tasks may wait on an executor's account before it grows",
			scaleInput{min: 1, max: 10, slots: 1, backlog: 2, replicas: 1, connected: 1, running: 1, queued: 2},
			scaleDecision{replicas: 1, wanted: 1}},
		{"backlog exceeded: it grows",
			scaleInput{min: 1, max: 10, slots: 1, backlog: 2, replicas: 1, connected: 1, running: 1, queued: 3},
			scaleDecision{replicas: 2, wanted: 2}},
		{"the namespace's cap holds it back, and says so",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 1, connected: 1, running: 1, queued: 3, room: 1},
			scaleDecision{replicas: 2, wanted: 4, capped: true}},
		{"no room at all",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 1, connected: 1, running: 1, queued: 3, room: 0},
			scaleDecision{replicas: 1, wanted: 4, capped: true}},
		{"idle long enough: the longest idle executor goes, one at a time",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 3, connected: 3, idle: longIdle, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 2, remove: "a", wanted: 1}},
		{"idle, but not for scaledown_ttl yet",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 3, connected: 3, idle: justIdle, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 3, wanted: 1}},
		{"never below min",
			scaleInput{min: 2, max: 4, slots: 1, replicas: 2, connected: 2, idle: longIdle, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 2, wanted: 2}},
		{"work for every executor: none goes, idle or not",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 3, connected: 3, running: 2, queued: 1, idle: longIdle, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 3, wanted: 3}},
		{"no idle executor (all run a task): none goes",
			scaleInput{min: 1, max: 4, slots: 2, replicas: 3, connected: 3, running: 3, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 3, wanted: 2}},
		{"an executor still starting: none goes until all are connected",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 3, connected: 2, idle: longIdle, scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 3, wanted: 1}},
		{"scaledown ttl 0: idle executors stay",
			scaleInput{min: 1, max: 4, slots: 1, replicas: 3, connected: 3, idle: longIdle, now: now},
			scaleDecision{replicas: 3, wanted: 1}},
		{"min 0: an idle environment goes down to no executor",
			scaleInput{min: 0, max: 2, slots: 1, replicas: 1, connected: 1, idle: longIdle[:1], scaledownTTL: ttl, now: now},
			scaleDecision{replicas: 0, remove: "a", wanted: 0}},
		{"min 0 and work: one executor",
			scaleInput{min: 0, max: 2, slots: 1, replicas: 0, queued: 1},
			scaleDecision{replicas: 1, wanted: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.in.room == 0 && !c.want.capped {
				c.in.room = -1 // no cap, unless the case is about one
			}
			assert.Equal(t, c.want, decideScale(c.in))
		})
	}
}
