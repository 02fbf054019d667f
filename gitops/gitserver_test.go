package gitops

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The server serves the one repository it is given: not its siblings (the
// old server exported the parent folder), not through "..", not a
// repository reached through a symbolic link.
func TestServeGitServesOneRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	parent := t.TempDir()
	for _, name := range []string{"lab", "secrets"} {
		dir := filepath.Join(parent, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "f.txt"), []byte(name), 0o644)
		for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}} {
			if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v %s", args, err, out)
			}
		}
	}
	srv, err := ServeGit(filepath.Join(parent, "lab"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	clone := func(url string) error {
		return exec.Command("git", "clone", "-q", url, filepath.Join(t.TempDir(), "c")).Run()
	}
	if err := clone(srv.RepoURL()); err != nil {
		t.Fatalf("cloning the served repository: %v", err)
	}
	if err := clone(srv.URL + "/secrets"); err == nil {
		t.Fatal("a sibling repository was cloned")
	}
	for _, p := range []string{"/secrets/info/refs?service=git-upload-pack", "/lab/../secrets/info/refs?service=git-upload-pack", "/lab/%2e%2e/secrets/HEAD"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(filepath.Join(parent, "secrets"), link)
	if _, err := ServeGit(link, "127.0.0.1:0"); err == nil {
		t.Error("a repository behind a symbolic link was served")
	}
}
