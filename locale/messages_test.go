package locale

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is the repository, one folder up from this package.
const moduleRoot = ".."

// skipDirs hold no message a client or a reader of keyward's pages sees:
// the command line speaks English to the operator, and test helpers to
// tests.
var skipDirs = map[string]bool{
	"cmd": true, "tools": true, "examples": true, "contrib": true, "docs": true,
	"storetest": true, "keywardtest": true, "mailtest": true, "testdata": true,
}

// messageSinks are the functions whose argument at the index is a message
// to translate: keyward.Errorf's format and its kin.
var messageSinks = map[string]int{
	"Errorf":              1, // keyward.Errorf(code, format, ...)
	"violation":           1, // password policy
	"invalid":             0, // a form error (web)
	"passkeysUnavailable": 0,
}

// codeMessages are the client-safe messages keyward's code can answer
// with, as keys, found in its source: the formats given to keyward.Errorf
// and its kin, and the Message of every Error built by hand. A message put
// together at run time is not found; the code keeps to formats so that it
// is. literals are every string literal of the same source.
func codeMessages(t testing.TB) (found map[string][]string, literals map[string]bool) {
	t.Helper()
	found = map[string][]string{} // message → where
	literals = map[string]bool{}
	fset := token.NewFileSet()
	files := map[string][]*ast.File{} // by folder: a package's constants are shared
	err := filepath.WalkDir(moduleRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != moduleRoot && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		files[filepath.Dir(p)] = append(files[filepath.Dir(p)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range files {
		consts := map[string]string{}
		for _, f := range pkg {
			for k, v := range stringConsts(f) {
				consts[k] = v
			}
		}
		for _, f := range pkg {
			add := func(n ast.Node, s string) {
				found[s] = append(found[s], fset.Position(n.Pos()).String())
			}
			for _, decl := range f.Decls {
				ast.Inspect(decl, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.BasicLit:
						if s, ok := literal(n, nil); ok {
							literals[s] = true
						}
					case *ast.CallExpr:
						i, ok := sinkArg(f, n)
						if !ok || i >= len(n.Args) {
							return true
						}
						arg := n.Args[i]
						if s, ok := literal(arg, consts); ok && s == "%s" && i+1 < len(n.Args) {
							arg = n.Args[i+1] // a message passed through
						}
						for _, s := range values(arg, consts, decl) {
							add(n, s)
						}
					case *ast.KeyValueExpr:
						if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Message" {
							for _, s := range values(n.Value, consts, decl) {
								add(n, s)
							}
						}
					}
					return true
				})
			}
		}
	}
	return found, literals
}

// sinkArg says whether call passes a message, and at which argument.
func sinkArg(f *ast.File, call *ast.CallExpr) (int, bool) {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		if fn.Name == "Errorf" && f.Name.Name != "keyward" {
			return 0, false
		}
		i, ok := messageSinks[fn.Name]
		return i, ok
	case *ast.SelectorExpr:
		if x, ok := fn.X.(*ast.Ident); ok && x.Name == "keyward" && fn.Sel.Name == "Errorf" {
			return 1, true
		}
	}
	return 0, false
}

// stringConsts are the file's string constants, by name.
func stringConsts(f *ast.File) map[string]string {
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		g, ok := n.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			return true
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if s, ok := literal(vs.Values[i], nil); ok {
						consts[name.Name] = s
					}
				}
			}
		}
		return true
	})
	return consts
}

// literal is the string e stands for: a literal or a known constant.
func literal(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	}
	return "", false
}

// values are the strings e can be: a literal, a constant, or a variable
// of the enclosing declaration and every literal assigned to it there.
func values(e ast.Expr, consts map[string]string, decl ast.Decl) []string {
	if s, ok := literal(e, consts); ok {
		return []string{s}
	}
	id, ok := e.(*ast.Ident)
	if !ok {
		return nil
	}
	var out []string
	ast.Inspect(decl, func(n ast.Node) bool {
		a, ok := n.(*ast.AssignStmt)
		if !ok || len(a.Lhs) != len(a.Rhs) {
			return true
		}
		for i, l := range a.Lhs {
			if li, ok := l.(*ast.Ident); ok && li.Name == id.Name {
				if s, ok := literal(a.Rhs[i], consts); ok {
					out = append(out, s)
				}
			}
		}
		return true
	})
	return out
}

// templateKey finds the keys templates ask for: {{t "key" …}}, {{tn "key" …}}.
var templateKey = regexp.MustCompile(`\{\{-?\s*(?:t|tn)\s+"([^"]+)"`)

// templateKeys are the keys the templates under dirs use, with where.
func templateKeys(t testing.TB, dirs ...string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(moduleRoot, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range templateKey.FindAllSubmatch(b, -1) {
				found[string(m[1])] = append(found[string(m[1])], p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestPrintCodeMessages lists the messages found (go test -run PrintCode -v).
func TestPrintCodeMessages(t *testing.T) {
	if os.Getenv("KEYWARD_PRINT_MESSAGES") == "" {
		t.Skip("set KEYWARD_PRINT_MESSAGES=1 to list the messages the code answers with")
	}
	m, _ := codeMessages(t)
	for _, k := range sortedKeys(m) {
		t.Logf("%q\t%s", k, m[k][0])
	}
}
