package main

import (
	"context"
	"fmt"
	"time"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// helloResult is what the Hello World shape measured: wall times of the map, pod per task, and actor on
// a cold and on a warm environment.
type helloResult struct {
	items                       int
	podWall, coldWall, warmWall time.Duration
}

// helloWorld runs Union's "Hello World" shape, a map of items short tasks over replica_count=4: pod per
// task, then as actor tasks on a cold environment, then again warm.
func (b *bencher) helloWorld(ctx context.Context, items int) (*helloResult, error) {
	names := make([]*idlcore.Literal, items)
	for i := range names {
		names[i] = &idlcore.Literal{Value: &idlcore.Literal_Scalar{Scalar: &idlcore.Scalar{Value: &idlcore.Scalar_Primitive{
			Primitive: &idlcore.Primitive{Value: &idlcore.Primitive_StringValue{StringValue: fmt.Sprintf("item-%d", i)}}}}}}
	}
	inputs := map[string]*idlcore.Literal{"names": {Value: &idlcore.Literal_Collection{
		Collection: &idlcore.LiteralCollection{Literals: names}}}}
	r := &helloResult{items: items}
	runOnce := func(lp string) (time.Duration, error) {
		exec, err := b.stack.Run(ctx, b.reg, lp, inputs, 30*time.Minute)
		if err != nil {
			return 0, err
		}
		got := exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals()
		if len(got) != items || got[items-1].GetScalar().GetPrimitive().GetStringValue() != fmt.Sprintf("hello item-%d", items-1) {
			return 0, fmt.Errorf("%s returned %d items, want %d ending with hello item-%d", lp, len(got), items, items-1)
		}
		return exec.Duration(), nil
	}
	var err error
	fmt.Printf("\nHello World: a map of %d items, pod per task ...\n", items)
	if r.podWall, err = runOnce("bench.pods.hello_world"); err != nil {
		return nil, err
	}
	fmt.Println("Hello World, actor on replica_count=4, cold environment ...")
	if r.coldWall, err = runOnce("bench.actors.hello_world"); err != nil {
		return nil, err
	}
	fmt.Println("Hello World, actor, warm environment ...")
	if r.warmWall, err = runOnce("bench.actors.hello_world"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *helloResult) print() {
	fmt.Printf("  %d items: pod per task %s, actor cold %s, actor warm %s\n", r.items, round(r.podWall), round(r.coldWall), round(r.warmWall))
	bench("hello-world-pod-wall", ms(r.podWall), "ms")
	bench("hello-world-actor-cold-wall", ms(r.coldWall), "ms")
	bench("hello-world-actor-warm-wall", ms(r.warmWall), "ms")
	bench("hello-world-speedup-cold", ratio(r.podWall, r.coldWall), "x")
	bench("hello-world-speedup-warm", ratio(r.podWall, r.warmWall), "x")
}
