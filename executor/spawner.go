package executor

import (
	"os/exec"
	"runtime"
)

// spawner starts processes from one OS thread that lives as long as the spawner. Runtimes are started
// with Pdeathsig, so that they die with the bridge (a runtime left behind would go on running a task
// the pool has retried elsewhere); Linux sends that signal when the *thread* that started the child
// exits, and Go may retire any thread a goroutine ran on, so the thread is pinned.
type spawner struct {
	requests chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// newSpawner starts a spawner; stop ends it, once its processes are gone.
func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when the goroutine ends with its thread locked, Go retires the thread,
		// which is only right once every process it started is gone.
		for req := range s.requests {
			req.done <- req.cmd.Start()
		}
	}()
	return s
}

// start starts cmd on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// stop ends the spawner.
func (s *spawner) stop() { close(s.requests) }
