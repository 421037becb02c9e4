package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// lookaheadResult is what lookahead prewarm measured: the wall time of a workflow whose first step (a
// pod task) takes download, then runs a chain of actor tasks, with prewarm off on a cold environment, on
// with a cold one, and on a warm one (what a cold environment costs nothing would be).
type lookaheadResult struct {
	download      time.Duration
	off, on, warm time.Duration
}

// lookahead runs bench.lookahead's workflows: the first on a cold environment with prewarm off (as the
// stack starts), then propeller restarts with prewarm on and the second runs on its own cold
// environment, then again, warm.
func (b *bencher) lookahead(ctx context.Context, download time.Duration) (*lookaheadResult, error) {
	r := &lookaheadResult{download: download}
	inputs := map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(download.Seconds())}
	runOnce := func(lp string) (time.Duration, error) {
		exec, err := b.stack.Run(ctx, b.reg, lp, inputs, 10*time.Minute)
		if err != nil {
			return 0, err
		}
		return exec.Duration(), nil
	}
	var err error
	fmt.Printf("\nlookahead: a %s first step, then 3 actor tasks on a cold environment, prewarm off ...\n", download)
	if r.off, err = runOnce("bench.lookahead.behind_download_a"); err != nil {
		return nil, err
	}
	if err := b.tune(prewarm(true)); err != nil {
		return nil, err
	}
	fmt.Println("lookahead: the same on another cold environment, prewarm on ...")
	if r.on, err = runOnce("bench.lookahead.behind_download_b"); err != nil {
		return nil, err
	}
	fmt.Println("lookahead: the same again, its environment now warm ...")
	if r.warm, err = runOnce("bench.lookahead.behind_download_b"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *lookaheadResult) print() {
	fmt.Printf("  wall: prewarm off %s, prewarm on %s, warm environment %s\n", round(r.off), round(r.on), round(r.warm))
	bench("prewarm-off-wall", ms(r.off), "ms")
	bench("prewarm-on-wall", ms(r.on), "ms")
	bench("prewarm-warm-wall", ms(r.warm), "ms")
	bench("prewarm-saving", ms(r.off-r.on), "ms")
	bench("prewarm-cost-left", ms(r.on-r.warm), "ms")
}
