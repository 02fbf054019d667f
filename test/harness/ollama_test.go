package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// StartOllama given a folder it cannot create returns the error: no panic
// in its cleanup (the cleanup's receiver was the nil result), and nothing
// is started. Needs no ollama binary: the folder comes first.
func TestStartOllamaBadDirIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := StartOllama(context.Background(), filepath.Join(file, "models"))
	if err == nil || o != nil {
		t.Fatalf("want an error and no Ollama, got %v, %v", o, err)
	}
}

// A folder that does not exist yet is created, and a failure after it
// (here: no ollama binary in an empty cache) cleans up without a panic.
func TestStartOllamaCreatesItsDir(t *testing.T) {
	t.Setenv("LAB_TESTBIN", t.TempDir()) // no binaries: Bin fails after the folder exists
	dir := filepath.Join(t.TempDir(), "not", "yet")
	o, err := StartOllama(context.Background(), dir)
	if err == nil || o != nil {
		t.Fatalf("want the missing binary reported, got %v, %v", o, err)
	}
	if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
		t.Errorf("folder not created: %v", serr)
	}
}
