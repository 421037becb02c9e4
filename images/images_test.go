// Package images holds the Dockerfiles of the project's two images (executor/, flytepropeller/). No
// Docker runs here: the tests check what can be checked without it.
package images

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDockerfilesBuildWhatExists: every package a Dockerfile builds and every file it copies from the
// build context exists, and nothing it needs is excluded by .dockerignore.
func TestDockerfilesBuildWhatExists(t *testing.T) {
	ignored, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	for _, dockerfile := range []string{"executor/Dockerfile", "flytepropeller/Dockerfile"} {
		t.Run(dockerfile, func(t *testing.T) {
			f, err := os.Open(dockerfile)
			require.NoError(t, err)
			defer func() { _ = f.Close() }()
			built := 0
			s := bufio.NewScanner(f)
			for s.Scan() {
				line := strings.TrimSpace(s.Text())
				if m := regexp.MustCompile(`go build .* (\./cmd/\S+)$`).FindStringSubmatch(line); m != nil {
					built++
					assert.DirExists(t, filepath.Join("..", m[1]))
					for _, pattern := range strings.Fields(string(ignored)) {
						assert.NotEqual(t, strings.Split(strings.TrimPrefix(m[1], "./"), "/")[0], pattern, "%s is ignored", m[1])
					}
				}
				if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == "COPY" && !strings.HasPrefix(fields[1], "--from") {
					for _, src := range fields[1 : len(fields)-1] {
						if src != "." {
							assert.FileExists(t, filepath.Join("..", src))
						}
					}
				}
			}
			assert.Equal(t, 1, built, "one binary per image")
		})
	}
}

// TestExecutorBuildsStatic: the executor image is FROM scratch and the binary runs in any image, so it
// must not need a dynamic loader or shared libraries.
func TestExecutorBuildsStatic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "actor-executor")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/actor-executor")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", output)
	bin, err := elf.Open(out)
	require.NoError(t, err)
	defer func() { _ = bin.Close() }()
	for _, p := range bin.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "no dynamic loader")
	}
	libs, err := bin.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, "no shared libraries")
}
