// Command actor-executor is the primary container command of every Flyte Actors executor pod: it keeps
// warm Python runtimes and runs the tasks the actor pool assigns to it. It is configured by the
// FLYTE_ACTOR_* environment variables the pool sets on the pods it creates (see package executor).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flyteactors/flyteactors/executor"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "actor-executor: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if err := executor.HideToken(); err != nil {
		return err
	}
	cfg, err := executor.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg.Stdout, cfg.Stderr = os.Stdout, os.Stderr
	x, err := executor.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return x.Run(ctx)
}
