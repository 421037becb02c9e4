// Command actor-executor is the primary container command of every Flyte Actors executor pod: it keeps
// warm Python runtimes and runs the tasks the actor pool assigns to it. It is configured by the
// FLYTE_ACTOR_* environment variables the pool sets on the pods it creates (see package contract).
//
// `actor-executor install <dir>` copies the binary into dir: the init container that injects the
// executor into an executor pod runs it.
//
// Its exit code tells the pool why its pod ended: contract.ExitCodeRefused when the pool refused it for
// good, contract.ExitCodeRuntimeCannotStart when its Python runtime could not start,
// contract.ExitCodeRuntimeUnavailable when a runtime was not warm in time or could not be started again,
// 1 otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/flyteactors/flyteactors/executor"
	"github.com/flyteactors/flyteactors/go/contract"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "install" {
		if err := executor.Install(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "actor-executor: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		// The last line of the log: the pod's termination message (FallbackToLogsOnError) ends with it.
		fmt.Fprintf(os.Stderr, "actor-executor: %v\n", err)
		switch {
		case errors.Is(err, executor.ErrRefused):
			os.Exit(contract.ExitCodeRefused)
		case errors.Is(err, executor.ErrRuntimeCannotStart):
			os.Exit(contract.ExitCodeRuntimeCannotStart)
		case errors.Is(err, executor.ErrRuntimeUnavailable):
			os.Exit(contract.ExitCodeRuntimeUnavailable)
		}
		os.Exit(1)
	}
}

// reportOnSignal prints the executor's goroutines and memory to stderr (the pod's log) on every
// SIGUSR1, so that an operator or a soak test can watch it for leaks. It collects garbage first, so
// heap_live_bytes is what the executor still holds, not what the collector has yet to free.
func reportOnSignal() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR1)
	go func() {
		for range signals {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "actor-executor stats: goroutines=%d heap_live_bytes=%d sys_bytes=%d\n",
				runtime.NumGoroutine(), m.HeapAlloc, m.Sys)
		}
	}()
}

func run() error {
	if err := executor.HideToken(); err != nil {
		return err
	}
	if err := executor.ProtectMemory(); err != nil {
		return err
	}
	cfg, err := executor.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg.Stdout, cfg.Stderr = os.Stdout, os.Stderr
	reportOnSignal()
	x, err := executor.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return x.Run(ctx)
}
