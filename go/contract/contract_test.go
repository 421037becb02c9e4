package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPythonMirrorMatches keeps python/flyteactors/contract.py equal to this package: every exported
// string or integer constant here is there under its UPPER_SNAKE name with the same value, and
// nothing else is.
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
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*) = (?:"([^"]*)"|([0-9][0-9_ *]*))$`).FindAllStringSubmatch(string(raw), -1) {
		got[m[1]] = m[2] + evalProduct(t, m[3])
	}
	assert.Equal(t, want, got)
}

func TestUpperSnake(t *testing.T) {
	assert.Equal(t, "ENV_ENVIRONMENT_ID", upperSnake("EnvEnvironmentID"))
	assert.Equal(t, "CODE_RUNTIME_START_FAILED", upperSnake("CodeRuntimeStartFailed"))
	assert.Equal(t, "HTTP_SERVER", upperSnake("HTTPServer"))
}

// evalProduct evaluates a Python integer expression like "8 * 1024"; "" stays "".
func evalProduct(t *testing.T, expr string) string {
	if expr == "" {
		return ""
	}
	product := 1
	for _, factor := range strings.Split(expr, "*") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(factor), "_", ""))
		require.NoError(t, err, expr)
		product *= n
	}
	return strconv.Itoa(product)
}

// stringConstants returns the exported string and integer constants declared in file, by name, with
// integers in decimal.
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
				if !name.IsExported() {
					continue
				}
				switch v := vs.Values[i].(type) {
				case *ast.BasicLit:
					switch v.Kind {
					case token.STRING:
						value, err := strconv.Unquote(v.Value)
						require.NoError(t, err)
						out[name.Name] = value
					case token.INT:
						out[name.Name] = v.Value
					}
				case *ast.BinaryExpr: // integers written as products, like 8 * 1024
					x, xok := v.X.(*ast.BasicLit)
					y, yok := v.Y.(*ast.BasicLit)
					if xok && yok && v.Op == token.MUL && x.Kind == token.INT && y.Kind == token.INT {
						out[name.Name] = evalProduct(t, x.Value+"*"+y.Value)
					}
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

func TestTruncateMessageKeepsBothEndsWithinTheLimit(t *testing.T) {
	assert.Equal(t, "short", TruncateMessage("short"))
	long := "BEGIN" + strings.Repeat("x", 3*MaxFailureMessageBytes) + "ValueError: the real reason"
	got := TruncateMessage(long)
	assert.Len(t, got, MaxFailureMessageBytes)
	assert.True(t, strings.HasPrefix(got, "BEGIN"))
	assert.True(t, strings.HasSuffix(got, "ValueError: the real reason"))
	assert.Contains(t, got, "(truncated)")
}

// TestTruncateMessageKeepsValidUTF8: whatever the message (characters of 1 to 4 bytes across both cuts,
// invalid bytes), the result is valid UTF-8 within the limit. A string cut inside a character cannot be
// marshalled by protobuf, and an executor holding such a result could never send a Hello again.
func TestTruncateMessageKeepsValidUTF8(t *testing.T) {
	for _, char := range []string{"a", "é", "€", "😀"} {
		for pad := range 4 {
			msg := strings.Repeat("x", pad) + strings.Repeat(char, 2*MaxFailureMessageBytes) + strings.Repeat("y", pad)
			got := TruncateMessage(msg)
			assert.True(t, utf8.ValidString(got), "%q padded by %d", char, pad)
			assert.LessOrEqual(t, len(got), MaxFailureMessageBytes)
			assert.Contains(t, got, "(truncated)")
			reason := TruncateReason(msg)
			assert.True(t, utf8.ValidString(reason))
			assert.LessOrEqual(t, len(reason), MaxReasonBytes)
		}
	}
	invalid := "bad \xff\xfe bytes " + strings.Repeat("\xe2\x82", MaxFailureMessageBytes)
	got := TruncateMessage(invalid)
	assert.True(t, utf8.ValidString(got))
	assert.LessOrEqual(t, len(got), MaxFailureMessageBytes)
	assert.Equal(t, "short \uFFFD", TruncateMessage("short \xff"), "short messages are made valid too")
}

// TestReleaseHasOneVersion: the chart (its version and appVersion, which its images' default tags
// follow) and the Python package (its version is read from contract.py's VERSION) carry Version.
func TestReleaseHasOneVersion(t *testing.T) {
	chart, err := os.ReadFile("../../charts/flyte-actors/Chart.yaml")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^version: `+regexp.QuoteMeta(Version)+`$`, string(chart))
	assert.Regexp(t, `(?m)^appVersion: "`+regexp.QuoteMeta(Version)+`"$`, string(chart))
	pyproject, err := os.ReadFile("../../python/pyproject.toml")
	require.NoError(t, err)
	assert.Contains(t, string(pyproject), `version = {attr = "flyteactors.contract.VERSION"}`)
	makefile, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	assert.Contains(t, string(makefile), "IMAGE_TAG ?= $(VERSION)", "images are tagged with the release by default")
}
