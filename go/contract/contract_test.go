package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPythonMirrorMatches keeps python/flyteactors/contract.py equal to this package: every string
// constant here is there under its UPPER_SNAKE name with the same value, and nothing else is.
func TestPythonMirrorMatches(t *testing.T) {
	goConsts := stringConstants(t, "contract.go")
	require.NotEmpty(t, goConsts)
	want := map[string]string{}
	for name, value := range goConsts {
		want[upperSnake(name)] = value
	}

	raw, err := os.ReadFile("../../python/flyteactors/contract.py")
	require.NoError(t, err)
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*) = "([^"]*)"$`).FindAllStringSubmatch(string(raw), -1) {
		got[m[1]] = m[2]
	}
	assert.Equal(t, want, got)
}

func TestUpperSnake(t *testing.T) {
	assert.Equal(t, "ENV_ENVIRONMENT_ID", upperSnake("EnvEnvironmentID"))
	assert.Equal(t, "CODE_RUNTIME_START_FAILED", upperSnake("CodeRuntimeStartFailed"))
	assert.Equal(t, "HTTP_SERVER", upperSnake("HTTPServer"))
}

// stringConstants returns the string constants declared in file, by name.
func stringConstants(t *testing.T, file string) map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	out := map[string]string{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					value, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[name.Name] = value
				}
			}
		}
	}
	return out
}

// upperSnake turns a Go name into Python's constant style: EnvEnvironmentID -> ENV_ENVIRONMENT_ID.
func upperSnake(name string) string {
	runes := []rune(name)
	var out []rune
	for i, r := range runes {
		if i > 0 && unicode.IsUpper(r) {
			prevLower := unicode.IsLower(runes[i-1])
			nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if prevLower || (unicode.IsUpper(runes[i-1]) && nextLower) {
				out = append(out, '_')
			}
		}
		out = append(out, unicode.ToUpper(r))
	}
	return string(out)
}
