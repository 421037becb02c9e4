package executor

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomCounter reads how many processes the kernel's OOM killer has killed in the container, and false
// if it cannot tell.
type oomCounter func() (int64, bool)

// cgroupOOMKills returns an oomCounter over the cgroup filesystem mounted at root (/sys/fs/cgroup in a
// container): memory.events (cgroup v2) or memory/memory.oom_control (cgroup v1), whose oom_kill line
// counts the container's OOM kills. Comparing it before and after a task tells whether the runtime
// that died was killed for memory, rather than guessing from the signal.
func cgroupOOMKills(root string) oomCounter {
	return func() (int64, bool) {
		for _, file := range []string{"memory.events", filepath.Join("memory", "memory.oom_control")} {
			if n, ok := readOOMKill(filepath.Join(root, file)); ok {
				return n, true
			}
		}
		return 0, false
	}
}

func readOOMKill(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if value, ok := strings.CutPrefix(s.Text(), "oom_kill "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
